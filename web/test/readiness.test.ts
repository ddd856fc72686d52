import { describe, expect, it } from 'vitest';
import { buildProgress } from '../src/app/readiness';

describe('buildProgress', () => {
  it('says how many dashboards are done and how many pre-aggregates exist', () => {
    expect(buildProgress({ rollups: 'building', rollups_progress: { dashboards: 3, dashboards_done: 1, built: 4 } })).toBe(' (1 of 3 dashboards, 4 built)');
    expect(buildProgress({ rollups: 'building', rollups_progress: { dashboards: 1, dashboards_done: 0, built: 0 } })).toBe(' (0 of 1 dashboard, 0 built)');
  });
  it('says nothing before the plan is known or without figures', () => {
    expect(buildProgress({ rollups: 'building', rollups_progress: { dashboards: 0, dashboards_done: 0, built: 0 } })).toBe('');
    expect(buildProgress({ rollups: 'building' })).toBe('');
  });
});
