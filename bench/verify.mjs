// The equivalence check: the same states asked of two servers over the same project and data
// (the optimized one and the naive one, `--no-rollups --cache-mb 0`), every widget's answer in
// JSON compared by bench/compare.mjs. Used by `node bench/dashboard.mjs --verify` and by
// tests/integration/equivalence.test.mjs.
import { compareAnswers } from './compare.mjs';
import { interaction, resolveTables } from './client.mjs';

// Returns {compared, mismatches: [{state_index, state, widget, body, diffs}], errors: [...]}:
// every answer other than 200 is an error; answers are compared unless one side gave none.
// `reference` is the server whose counts place pages counted from the end (the naive one).
export async function verifyDashboard({ candidate, reference, catalog, states, onMismatch }) {
  const widgets = catalog.widgets;
  const out = { dashboard: catalog.id, states: states.length, compared: 0, mismatches: [], errors: [] };
  for (let i = 0; i < states.length; i++) {
    const state = states[i];
    const offsets = await resolveTables(reference, catalog.id, widgets, state);
    // Both servers at once (they share the cores, which only matters for time).
    const [a, b] = await Promise.all([
      interaction(candidate, catalog.id, widgets, state, offsets, { format: 'json', keepText: true }),
      interaction(reference, catalog.id, widgets, state, offsets, { format: 'json', keepText: true }),
    ]);
    for (let k = 0; k < widgets.length; k++) {
      const w = widgets[k];
      const [x, y] = [a.per[k], b.per[k]];
      out.compared++;
      for (const [side, r] of [['optimized', x], ['naive', y]]) {
        if (r.status !== 200) out.errors.push({ state_index: i, widget: w.id, side, status: r.status, error: r.error, body: r.body });
      }
      // A server that ran out of time or memory (504, 503, or no answer) said nothing about the
      // answer: that is an error (above), not a mismatch.
      const unanswered = [x, y].some((r) => [0, 503, 504].includes(r.status));
      const diffs = unanswered ? [] : compareAnswers(w, x, y, x.body);
      if (diffs.length) {
        const m = { state_index: i, widget: w.id, state, body: x.body, diffs };
        out.mismatches.push(m);
        onMismatch?.(m);
      }
    }
  }
  return out;
}

export function describeMismatch(dashboard, m) {
  return `${dashboard}/${m.widget} (state ${m.state_index}): ${m.diffs.join('; ')}\n    request: ${JSON.stringify(m.body)}`;
}
