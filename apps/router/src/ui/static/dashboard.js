// Switchyard dashboard: vanilla JS, no build step. Polls the router's own API:
//   /v1/deployments                 every 2 s (the list)
//   /v1/deployments/{name}          every 1 s (spec, report, guardrails or plan block)
//   /v1/deployments/{name}/history  every 3 s (series rebuilt from deployment-events in Kafka)
// The charts draw the history's points, then the live points this page gathered from the
// report since it opened (served split, reward per variant), so a reload loses nothing
// that Kafka recorded.
(() => {
  'use strict';
  const COLORS = ['#2f6fde', '#e07b24', '#2e8b57', '#c93c37', '#8a55c9', '#1aa3a3', '#a0782c', '#d0459c'];
  const $ = (id) => document.getElementById(id);
  const state = { selected: decodeURIComponent(location.hash.slice(1)) || null, deployment: null, history: null, live: [], liveFor: null };

  // A router with READ_API_KEY answers these reads 401 without a key: the page asks for one
  // once and keeps it for this tab only (a browser sends no Authorization header of its own).
  const KEY_ITEM = 'switchyard-read-key';
  let asked = false;
  async function get(path) {
    const key = sessionStorage.getItem(KEY_ITEM);
    const response = await fetch(path, { headers: { accept: 'application/json', ...(key && { authorization: `Bearer ${key}` }) } });
    if (response.status === 401 && !asked) {
      asked = true;
      const entered = (prompt('This router needs a read key (READ_API_KEY) or the admin key') || '').trim();
      if (entered) {
        sessionStorage.setItem(KEY_ITEM, entered);
        asked = false;
      }
    }
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  const pct = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : `${(x * 100).toFixed(1)}%`);
  const fix = (x, d = 3) => (x === undefined || x === null ? '–' : Number(x).toFixed(d));
  const colorOf = (names, name) => COLORS[Math.max(0, names.indexOf(name)) % COLORS.length];

  // --- the DOM is built from text only: what the API answers never reaches an HTML parser ---
  const SVG = 'http://www.w3.org/2000/svg';
  /** Sets attributes one by one (`style` as CSSOM properties, which the CSP allows) and appends children, strings as text nodes. */
  function build(node, attrs, children) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'style') Object.assign(node.style, value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat())
      if (child !== undefined && child !== null && child !== false) node.append(child instanceof Node ? child : String(child));
    return node;
  }
  const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const s = (tag, attrs, ...children) => build(document.createElementNS(SVG, tag), attrs, children);
  const dot = (color, className) => h('i', { class: className, style: { background: color } });

  // --- as the CLI's `status` (apps/cli/src/format.ts); the set split is the router's `split` ---
  function servingStrategy(d) {
    return (d.plan && d.plan.serving) || d.strategy;
  }
  function servedSplit(report) {
    const entries = Object.entries(report || {}).map(([v, roles]) => [v, (roles.served && roles.served.requests) || 0]);
    const total = entries.reduce((s, [, n]) => s + n, 0);
    return Object.fromEntries(entries.map(([v, n]) => [v, total ? n / total : 0]));
  }
  function describe(strategy) {
    switch (strategy.type) {
      case 'single':
        return `single ${strategy.variant}`;
      case 'shadow':
        return `shadow: ${strategy.primary} serves, ${(strategy.shadows || []).join(', ')} mirrored`;
      case 'canary':
        return `canary ${strategy.canary} ${strategy.percent}% over ${strategy.primary}`;
      case 'bandit':
        return `bandit ${strategy.algorithm}`;
      case 'plan':
        return `plan ${strategy.candidate} over ${strategy.primary}`;
      default:
        return strategy.type;
    }
  }

  // --- charts: inline SVG, x = time, y = 0..1 (or the rewards' range) ---
  function chart(svg, seriesList, { yMin = 0, yMax = 1, percent = false } = {}) {
    const W = 600,
      H = 220,
      L = 36,
      R = 8,
      T = 8,
      B = 20;
    const all = seriesList.flatMap((series) => series.points);
    if (!all.length) {
      svg.replaceChildren(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no data yet'));
      return;
    }
    const t0 = Math.min(...all.map((p) => p.t));
    const t1 = Math.max(Date.now(), t0 + 1000);
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - (Math.min(yMax, Math.max(yMin, v)) - yMin) / (yMax - yMin || 1)) * (H - T - B);
    const out = [];
    for (let i = 0; i <= 4; i++) {
      const v = yMin + ((yMax - yMin) * i) / 4;
      out.push(
        s('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        s('text', { x: L - 4, y: y(v) + 3, 'text-anchor': 'end' }, percent ? `${Math.round(v * 100)}%` : v.toFixed(2)),
      );
    }
    out.push(
      s('text', { x: L, y: H - 4 }, new Date(t0).toLocaleTimeString()),
      s('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()),
    );
    for (const series of seriesList) {
      const pts = series.points.slice().sort((a, b) => a.t - b.t);
      if (!pts.length) continue;
      const band = pts.filter((p) => p.low !== undefined && p.high !== undefined);
      if (band.length > 1) {
        const upper = band.map((p) => `${x(p.t)},${y(p.high)}`);
        const lower = band
          .slice()
          .reverse()
          .map((p) => `${x(p.t)},${y(p.low)}`);
        out.push(s('polygon', { points: upper.concat(lower).join(' '), fill: series.color, 'fill-opacity': 0.13 }));
      }
      // A set split holds until the next change: drawn as steps, carried to now.
      const coords = [];
      pts.forEach((p, i) => {
        if (series.step && i > 0) coords.push(`${x(p.t)},${y(pts[i - 1].v)}`);
        coords.push(`${x(p.t)},${y(p.v)}`);
      });
      if (series.step) coords.push(`${x(t1)},${y(pts[pts.length - 1].v)}`);
      out.push(s('polyline', { points: coords.join(' '), fill: 'none', stroke: series.color, 'stroke-width': 2, 'stroke-dasharray': series.dashed && '5 4' }));
      if (pts.length === 1 && !series.step) out.push(s('circle', { cx: x(pts[0].t), cy: y(pts[0].v), r: 3, fill: series.color }));
    }
    svg.replaceChildren(...out);
  }

  function legend(el, names) {
    el.replaceChildren(...names.map((n) => h('span', {}, dot(colorOf(names, n)), n)));
  }

  // --- rendering ---
  function renderList(deployments) {
    const ul = $('deployments');
    ul.replaceChildren(
      ...deployments.map((d) =>
        h(
          'li',
          { 'data-name': d.name, class: d.name === state.selected ? 'selected' : '' },
          h('span', {}, d.name),
          h('small', {}, `${d.strategy.type} v${d.version}`),
        ),
      ),
    );
    if (!state.selected && deployments.length) select(deployments[0].name);
  }

  // Per arm: labelled pairs judged, those still inside the label horizon, and the distinct units the split check counted (issue #24).
  function cohortLines(labels) {
    if (!labels) return [];
    const perArm = (counts) =>
      Object.entries(counts || {})
        .map(([arm, n]) => `${arm} ${n}`)
        .join(', ') || 'none';
    return [
      h('span', { id: 'cohort-pairs' }, `labelled pairs: ${perArm(labels.judged)} judged; ${perArm(labels.waiting)} inside the label horizon`),
      labels.units && h('span', { id: 'cohort-units' }, `distinct units: ${perArm(labels.units)}`),
    ];
  }

  function renderDetail() {
    const d = state.deployment;
    $('detail').hidden = !d;
    $('empty').hidden = !!d;
    if (!d) return;
    const names = d.variants.map((v) => v.name);
    const serving = servingStrategy(d);
    $('name').textContent = d.name;
    // The list polls less often; the selected entry follows this answer at once.
    const entry = document.querySelector(`#deployments li[data-name="${CSS.escape(d.name)}"] small`);
    if (entry) entry.textContent = `${d.strategy.type} v${d.version}`;
    $('version').textContent = `version ${d.version}`;
    $('strategy').textContent =
      describe(d.strategy) +
      (d.plan ? ` — step ${d.plan.step}/${d.plan.of} ${d.plan.kind}${d.plan.paused ? ' (paused)' : ''}, serving ${describe(serving)}` : '');

    // As the router assigns it (a bandit: the weights it serves; null before any are stored).
    const set = d.split;
    const served = servedSplit(d.report);
    const rows = [];
    const cell = (className, text) => h('td', { class: className }, text);
    for (const name of names) {
      const roles = (d.report && d.report[name]) || {};
      for (const role of ['served', 'shadow']) {
        const r = roles[role];
        if (role === 'shadow' && !r) continue;
        const reward = r && r.reward;
        rows.push(
          h(
            'tr',
            { 'data-variant': name, 'data-role': role },
            h('td', {}, dot(colorOf(names, name), 'dot'), ` ${name}`),
            h('td', {}, role),
            cell('num set', role === 'shadow' ? 'mirror' : set ? pct(set[name]) : 'bandit'),
            cell('num served', role === 'shadow' ? '–' : pct(served[name])),
            cell('num requests', r ? r.requests : 0),
            cell('num errors', r ? r.errors : 0),
            cell('num', r && r.latencyMs && r.latencyMs.p50 !== null ? r.latencyMs.p50 : '–'),
            cell('num reward', reward ? fix(reward.mean) : '–'),
            cell('num interval', reward && reward.low !== undefined ? `[${fix(reward.low)}, ${fix(reward.high)}]` : '–'),
            cell('num labelled', reward ? reward.count : 0),
            cell('num agreement', r && r.agreement ? `${pct(r.agreement.rate)} of ${r.agreement.compared}` : '–'),
          ),
        );
      }
    }
    document.querySelector('#variants tbody').replaceChildren(...rows);

    const judged = d.plan || d.guardrails;
    const history = state.history;
    const lastSrm = judged && judged.evidence && judged.evidence.srmP;
    const decisionSrm = history && history.decisions.length ? history.decisions[history.decisions.length - 1].evidence?.srmP : undefined;
    const srm = lastSrm !== undefined && lastSrm !== null ? lastSrm : decisionSrm;
    const e = judged && judged.evidence;
    const srmShown = srm === undefined || srm === null ? 'not checked' : `p = ${fix(srm, 4)}`;
    $('judgement').replaceChildren(
      ...(judged
        ? [
            h('span', {}, `${d.plan ? 'plan' : 'guardrails'}: `, h('span', { id: 'state', class: `state ${judged.state || ''}` }, judged.state || 'waiting')),
            e && e.delta !== null && e.delta !== undefined && h('span', {}, `delta ${fix(e.delta)} in [${fix(e.low)}, ${fix(e.high)}]`),
            h('span', {}, 'sample ratio check: ', h('span', { id: 'srm', class: srm !== undefined && srm !== null && srm < 0.001 ? 'srm-bad' : '' }, srmShown)),
            h('span', {}, 'last decision: ', h('b', { id: 'last-decision' }, judged.lastDecision ? judged.lastDecision.action : 'none')),
            ...cohortLines(judged.labels),
            (judged.reasons || []).length && h('span', { class: 'muted' }, judged.reasons.join('; ')),
          ].filter(Boolean)
        : [h('span', { class: 'muted' }, 'no guardrails or plan: nobody acts on this deployment but its operators (and a bandit)')]),
    );

    const decisions = history ? history.decisions : [];
    $('decisions').replaceChildren(
      ...(decisions.length
        ? decisions
            .slice()
            .reverse()
            .map((x) =>
              h(
                'li',
                {},
                h('span', { class: 'muted' }, new Date(x.at).toLocaleTimeString()),
                ' ',
                h('span', { class: 'action' }, x.action),
                ` v${x.fromVersion} → v${x.toVersion}`,
                x.evidence &&
                  x.evidence.srmP !== undefined &&
                  x.evidence.srmP !== null && [' ', h('span', { class: 'muted' }, `srmP ${fix(x.evidence.srmP, 4)}`)],
                h('div', { class: 'muted' }, x.reason),
              ),
            )
        : [h('li', { class: 'muted' }, 'no decisions yet')]),
    );

    // Split: set shares from the history (steps), served shares from the live points (dashed).
    const splitSeries = [];
    const rewardSeries = [];
    const rewardValues = [];
    for (const name of names) {
      const color = colorOf(names, name);
      const setPoints = (history ? history.split : []).map((p) => ({ t: Date.parse(p.at), v: p.shares[name] ?? 0 }));
      if (set) setPoints.push({ t: Date.now(), v: set[name] });
      splitSeries.push({ name, color, step: true, points: setPoints });
      splitSeries.push({ name, color, dashed: true, points: state.live.map((p) => ({ t: p.t, v: p.served[name] ?? 0 })) });
      const rewardPoints = (history ? history.rewards : [])
        .filter((p) => p.variants[name])
        .map((p) => ({ t: Date.parse(p.at), v: p.variants[name].mean, low: p.variants[name].low, high: p.variants[name].high }))
        .concat(
          state.live.filter((p) => p.rewards[name]).map((p) => ({ t: p.t, v: p.rewards[name].mean, low: p.rewards[name].low, high: p.rewards[name].high })),
        );
      // The axis follows the means; an early interval from a handful of rewards is clipped, not allowed to flatten the chart.
      rewardPoints.forEach((p) => rewardValues.push(p.v));
      rewardSeries.push({ name, color, points: rewardPoints });
    }
    chart($('split-chart'), splitSeries, { percent: true });
    const lo = rewardValues.length ? Math.min(...rewardValues) : 0;
    const hi = rewardValues.length ? Math.max(...rewardValues) : 1;
    chart($('reward-chart'), rewardSeries, { yMin: Math.min(0, lo), yMax: Math.max(1, hi) });
    legend($('split-legend'), names);
    legend($('reward-legend'), names);
    $('updated').textContent = new Date().toLocaleTimeString();
  }

  // --- polling ---
  function select(name) {
    if (state.selected !== name) {
      state.selected = name;
      state.deployment = null;
      state.history = null;
      state.live = [];
    }
    history.replaceState(null, '', `#${encodeURIComponent(name)}`);
    for (const li of document.querySelectorAll('#deployments li')) li.classList.toggle('selected', li.dataset.name === name);
    void pollDeployment();
    void pollHistory();
  }

  async function pollList() {
    try {
      const { deployments } = await get('/v1/deployments');
      renderList(deployments);
      $('connection').textContent = `live — ${deployments.length} deployment${deployments.length === 1 ? '' : 's'}`;
    } catch (error) {
      $('connection').textContent = `router not answering (${error.message})`;
    }
  }

  async function pollDeployment() {
    const name = state.selected;
    if (!name) return renderDetail();
    try {
      const d = await get(`/v1/deployments/${encodeURIComponent(name)}`);
      if (name !== state.selected) return;
      state.deployment = d;
      const rewards = {};
      for (const [variant, roles] of Object.entries(d.report || {})) if (roles.served && roles.served.reward) rewards[variant] = roles.served.reward;
      state.live.push({ t: Date.now(), served: servedSplit(d.report), rewards });
      if (state.live.length > 3600) state.live.shift();
      renderDetail();
    } catch (error) {
      $('connection').textContent = `could not read ${name} (${error.message})`;
    }
  }

  async function pollHistory() {
    const name = state.selected;
    if (!name) return;
    try {
      const h = await get(`/v1/deployments/${encodeURIComponent(name)}/history`);
      if (name !== state.selected) return;
      state.history = h;
      if (state.deployment) renderDetail();
    } catch {
      // The next poll tries again; the live points keep the charts going meanwhile.
    }
  }

  $('deployments').addEventListener('click', (event) => {
    const li = event.target.closest('li[data-name]');
    if (li) select(li.dataset.name);
  });
  window.addEventListener('hashchange', () => select(decodeURIComponent(location.hash.slice(1))));

  void pollList();
  if (state.selected) select(state.selected);
  setInterval(pollList, 2000);
  setInterval(pollDeployment, 1000);
  setInterval(pollHistory, 3000);
})();
