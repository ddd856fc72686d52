// The data page (/data): every source the user may know of, with how it is read, its data version
// and "as of" time, its refresh policy and status (why the last refresh failed, for those who
// may refresh it), and its validation rules with their last results (failing counts; sample
// values for those who may refresh). A "Refresh" button for the sources the user may refresh
// asks the server and polls the source until it is done (GET/POST /api/v1/sources...).
//
// renderSources is pure (DOM out of data), so unit tests can check what a user sees.

import type { CheckResult, SourceInfo } from '../types';
import { h } from './dom';
import { formatAsOf } from './freshness';

const MODE_LABEL: Record<string, string> = {
  replace: 'read whole',
  append: 'append',
  ingest: 'rows sent over HTTP',
  redis: 'Redis stream',
  mqtt: 'MQTT topic',
};

const STORE_LABEL: Record<string, string> = { s3: 'S3', azure: 'Azure Blob' };

function policyText(policy: Record<string, unknown> | null, mode: string | undefined): string {
  if (mode === 'ingest') return 'as rows arrive';
  if (mode === 'redis') return 'as entries arrive';
  if (mode === 'mqtt') return 'as messages arrive';
  if (!policy) return 'at start (and when someone allowed asks)';
  const parts: string[] = [];
  if (typeof policy.every_seconds === 'number') parts.push(`every ${humanSeconds(policy.every_seconds)}`);
  if (typeof policy.cron === 'string') parts.push(`cron ${policy.cron}`);
  if (policy.on_change === true)
    parts.push(
      typeof policy.poll_seconds === 'number' ? `when its objects change (looked at every ${humanSeconds(policy.poll_seconds)})` : 'when its files change',
    );
  return parts.length > 0 ? parts.join(', ') : 'when someone allowed asks';
}

export function humanSeconds(s: number): string {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

function checkRow(c: CheckResult): HTMLElement {
  const state = c.passed ? 'passed' : c.severity === 'error' ? 'failed' : 'warning';
  const samples = c.samples && c.samples.length > 0 ? ` e.g. ${c.samples.map((v) => `“${v}”`).join(', ')}` : '';
  return h(
    'tr',
    { 'data-check': c.rule, 'data-check-state': state },
    h('td', {}, c.rule),
    h('td', {}, c.severity),
    h('td', { class: `check-${state}` }, c.passed ? 'passes' : `fails: ${c.failing.toLocaleString()}${samples}`),
    h('td', { class: 'muted' }, c.detail ?? ''),
  );
}

/** One source's card; `onRefresh` is called with its name when its Refresh button is pressed. */
export function renderSource(s: SourceInfo, onRefresh: (name: string) => void): HTMLElement {
  const r = s.refresh;
  const asOf = formatAsOf(s.as_of);
  const facts = h(
    'dl',
    { class: 'source-facts' },
    h('dt', {}, 'Kept'),
    h('dd', { 'data-mode': s.mode ?? '' }, MODE_LABEL[s.mode ?? ''] ?? s.mode ?? ''),
    ...(s.stored_in
      ? [h('dt', {}, 'Stored in'), h('dd', { 'data-stored-in': s.stored_in.type }, `${STORE_LABEL[s.stored_in.type] ?? s.stored_in.type} (${s.stored_in.store})`)]
      : []),
    h('dt', {}, 'Data as of'),
    h('dd', { 'data-as-of': s.as_of ?? '' }, asOf ?? 'unknown'),
    h('dt', {}, 'Version'),
    h('dd', { 'data-version': s.version }, s.version),
    ...(typeof s.rows === 'number' ? [h('dt', {}, 'Rows'), h('dd', { 'data-rows': String(s.rows) }, s.rows.toLocaleString())] : []),
    h('dt', {}, 'Refreshed'),
    h('dd', { 'data-policy': '' }, policyText(r.policy, s.mode)),
  );
  const status = h('p', { class: r.failing ? 'source-status is-failing' : 'source-status', 'data-refresh-status': r.failing ? 'failing' : (r.last_outcome ?? 'none') });
  if (r.failing) {
    status.append(`Refreshes fail${r.failing_since ? ` since ${formatAsOf(r.failing_since) ?? r.failing_since}` : ''}; the last good data serves.`);
    if (r.last_error) status.append(h('span', { class: 'source-error', 'data-last-error': '' }, r.last_error));
  } else if (r.running || r.requested) {
    status.append('Refreshing…');
  } else if (r.last_check) {
    status.append(`Last checked ${formatAsOf(r.last_check) ?? r.last_check}: ${r.last_outcome ?? ''}`);
  }
  const card = h(
    'section',
    { class: 'source-card', 'data-source': s.name, 'aria-label': `Source ${s.name}` },
    h('h2', { class: 'source-name' }, s.name),
    facts,
    status,
  );
  if (r.can_refresh) {
    const button = h('button', { type: 'button', class: 'btn', 'data-refresh-source': s.name }, 'Refresh');
    button.disabled = r.running || r.requested;
    button.addEventListener('click', () => onRefresh(s.name));
    card.append(button);
  }
  const checks = s.checks ?? [];
  if (checks.length > 0) {
    const failing = s.checks_failing ?? { error: 0, warn: 0 };
    card.append(
      h('h3', { class: 'checks-title' }, `Checks: ${checks.length - failing.error - failing.warn} of ${checks.length} pass`),
      h(
        'table',
        { class: 'checks', 'data-checks': '' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Rule'), h('th', {}, 'Severity'), h('th', {}, 'Result'), h('th', {}, 'Detail'))),
        h('tbody', {}, ...checks.map(checkRow)),
      ),
    );
  }
  return card;
}

/** The page's content: a card per source, or a note that there is none. */
export function renderSources(sources: SourceInfo[], onRefresh: (name: string) => void): HTMLElement {
  if (sources.length === 0) return h('p', { class: 'muted', 'data-no-sources': '' }, 'No sources to show.');
  return h('div', { class: 'sources', 'data-sources': '' }, ...sources.map((s) => renderSource(s, onRefresh)));
}
