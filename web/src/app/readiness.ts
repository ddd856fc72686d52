import type { Readiness } from '../api/client';

/** " (1 of 2 dashboards, 4 built)" while pre-aggregations build, from /readyz; "" without figures. */
export function buildProgress(r: Readiness): string {
  const p = r.rollups_progress;
  if (!p || !(p.dashboards > 0)) return '';
  const n = Math.min(p.dashboards_done, p.dashboards);
  return ` (${n} of ${p.dashboards} dashboard${p.dashboards === 1 ? '' : 's'}, ${p.built} built)`;
}
