// Switchyard dashboard: vanilla JS, no build step. Polls the router's own API:
//   /v1/deployments                 every 2 s (the list)
//   /v1/deployments/{name}          every 1 s (spec, report, guardrails or plan block)
//   /v1/deployments/{name}/history  every 3 s (series rebuilt from deployment-events in Kafka)
// The charts draw the history's points, then the live points this page gathered from the
// report since it opened (served split, reward per variant and role), so a reload loses
// nothing that Kafka recorded. Operator actions POST with the admin key, entered once per
// tab, after a confirmation. Nothing is judged here: status is the API's `health`.
(() => {
  'use strict';
  const COLORS = ['#2f6fde', '#e07b24', '#2e8b57', '#c93c37', '#8a55c9', '#1aa3a3', '#a0782c', '#d0459c'];
  const $ = (id) => document.getElementById(id);
  const state = { selected: decodeURIComponent(location.hash.slice(1)) || null, deployment: null, history: null, live: [], liveFor: null };

  // A router with READ_API_KEY answers these reads 401 without a key: the page asks for one
  // once and keeps it for this tab only (a browser sends no Authorization header of its own).
  const KEY_ITEM = 'switchyard-read-key';
  // The admin key (actions) is kept the same way; it reads too, so a tab that has it is not asked for a read key.
  const ADMIN_ITEM = 'switchyard-admin-key';
  let asked = false;
  async function get(path) {
    const key = sessionStorage.getItem(KEY_ITEM) || sessionStorage.getItem(ADMIN_ITEM);
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
  const dot = (color, className) => h('i', { class: className, style: { background: color, borderColor: color } });

  // A spec revision reads `rev N` everywhere, never `vN`, which variants are often called.
  const rev = (n) => `rev ${n}`;

  // --- as the CLI's `status` (apps/cli/src/format.ts); the set split is the router's `split`, the served one its `served` ---
  function servingStrategy(d) {
    return (d.plan && d.plan.serving) || d.strategy;
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
  const duration = (seconds) => (seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`);
  /** A plan step as the spec states it (one kind per step, as validated). */
  function stepLabel(step) {
    if (step.canary !== undefined) return `canary ${step.canary}%`;
    if (step.pause) return step.pause.seconds === undefined ? 'pause until resumed' : `pause ${duration(step.pause.seconds)}`;
    if (step.shadow) return step.shadow.minSamples ? `shadow, ${step.shadow.minSamples} pairs` : 'shadow';
    if (step.bandit) return `bandit ${step.bandit.algorithm}`;
    if (step.promote) return 'promote';
    return '?';
  }

  // --- charts: inline SVG, x = time, y = 0..1 (or the rewards' range) ---
  const { clock, timeTicks } = window.SwitchyardTimeAxis;
  const SECOND = 1000;

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
    const t1 = Math.max(Date.now(), t0 + 10 * SECOND);
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
    for (const tick of timeTicks(t0, t1, 7)) {
      const at = x(tick.t);
      // A label whose middle is this close to an edge would be cut: anchored to its side instead.
      const anchor = at < L + 24 ? 'start' : at > W - R - 24 ? 'end' : 'middle';
      out.push(
        s('line', { class: 'tick', x1: at, x2: at, y1: T, y2: H - B }),
        s('text', { class: 'time', x: at, y: H - 5, 'text-anchor': anchor, 'data-t': tick.t }, tick.label),
      );
    }
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
        out.push(s('polygon', { points: upper.concat(lower).join(' '), fill: series.color, 'fill-opacity': series.dashed ? 0.06 : 0.13 }));
      }
      // A set split holds until the next change: drawn as steps, carried to now.
      const coords = [];
      pts.forEach((p, i) => {
        if (series.step && i > 0) coords.push(`${x(p.t)},${y(pts[i - 1].v)}`);
        coords.push(`${x(p.t)},${y(p.v)}`);
      });
      if (series.step) coords.push(`${x(t1)},${y(pts[pts.length - 1].v)}`);
      out.push(
        s('polyline', {
          points: coords.join(' '),
          fill: 'none',
          stroke: series.color,
          'stroke-width': 2,
          'stroke-dasharray': series.dashed && '5 4',
          'data-series': series.id,
        }),
      );
      if (pts.length === 1 && !series.step) out.push(s('circle', { cx: x(pts[0].t), cy: y(pts[0].v), r: 3, fill: series.color }));
    }
    svg.replaceChildren(...out);
  }

  function legend(el, entries) {
    el.replaceChildren(...entries.map(({ label, color, dashed }) => h('span', {}, dot(color, dashed ? 'dashed' : ''), label)));
  }

  // --- the sidebar: every deployment with its health (the API's `health`, not judged here), filtered by text ---
  let listed = [];
  const healthBadge = (health, id) =>
    h('span', { id, class: `health ${health ? health.state.toLowerCase() : ''}`, title: health ? health.reason : '' }, health ? health.state : '…');
  const entryNote = (d) => `${d.strategy.type} · ${rev(d.version)}`;

  function matches(d, words) {
    const text = `${d.name} ${d.strategy.type} ${d.health ? d.health.state : ''}`.toLowerCase();
    return words.every((word) => text.includes(word));
  }

  function renderList() {
    const words = $('filter').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = listed.filter((d) => matches(d, words));
    $('deployments').replaceChildren(
      ...shown.map((d) =>
        h(
          'li',
          { 'data-name': d.name, 'data-health': d.health && d.health.state, class: d.name === state.selected ? 'selected' : '', tabindex: 0 },
          h('span', { class: 'name', title: d.name }, d.name),
          healthBadge(d.health),
          h('small', {}, entryNote(d)),
        ),
      ),
    );
    $('shown').textContent = words.length ? `${shown.length} of ${listed.length} shown` : '';
    if (!state.selected && listed.length) select(listed[0].name);
  }

  // --- the selected deployment ---

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
    $('health').replaceWith(healthBadge(d.health, 'health'));
    $('health-reason').textContent = d.health ? d.health.reason : '';
    // The list polls less often; the selected entry follows this answer at once.
    const entry = listed.find((x) => x.name === d.name);
    if (entry && (entry.version !== d.version || JSON.stringify(entry.health) !== JSON.stringify(d.health))) {
      Object.assign(entry, { version: d.version, strategy: d.strategy, health: d.health });
      renderList();
    }
    $('version').textContent = rev(d.version);
    $('strategy').textContent =
      describe(d.strategy) +
      (d.plan ? ` — step ${d.plan.step} of ${d.plan.of} ${d.plan.kind}${d.plan.paused ? ' (paused)' : ''}, serving ${describe(serving)}` : '');
    renderStepper(d);
    renderActions(d);

    // As the router assigns it (a bandit: the weights it serves; null before any are stored),
    // beside what was served under the rev (and plan step) in force.
    const set = d.split;
    const served = d.served;
    $('served-head').textContent = served ? `served since ${served.since}` : `served since ${rev(d.version)}`;
    const recent = served && served.recent;
    $('recent-head').textContent = recent ? `last ${recent.minutes} min` : 'last minutes';
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
            cell('num served', role === 'shadow' ? '–' : served ? pct(served.shares[name]) : '–'),
            cell('num recent', role === 'shadow' || !recent ? '–' : pct(recent.shares[name])),
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
    renderSegments(d, names);

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
            h(
              'span',
              {},
              `${d.plan ? 'plan' : 'guardrails'}: `,
              h('span', { id: 'state', class: `state ${judged.state || ''}${d.strategy.type === 'single' ? ' ended' : ''}` }, judged.state || 'waiting'),
            ),
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
                h('span', { class: 'muted' }, clock(Date.parse(x.at))),
                ' ',
                h('span', { class: 'action' }, x.action),
                x.operator && [' ', h('span', { class: 'operator' }, 'operator')],
                x.fromVersion === x.toVersion ? ` at ${rev(x.fromVersion)}` : ` ${rev(x.fromVersion)} → ${rev(x.toVersion)}`,
                x.evidence &&
                  x.evidence.srmP !== undefined &&
                  x.evidence.srmP !== null && [' ', h('span', { class: 'muted' }, `srmP ${fix(x.evidence.srmP, 4)}`)],
                h('div', { class: 'muted' }, x.reason),
              ),
            )
        : [h('li', { class: 'muted' }, 'no decisions yet')]),
    );

    // Split: set shares from the history (steps), served shares from the live points (dashed).
    // Reward: served from the history and the live points; a shadow's from the live points (dashed).
    const splitSeries = [];
    const rewardSeries = [];
    const rewardValues = [];
    const rewardLegend = [];
    const rewardPoint = (t, r) => ({ t, v: r.mean, low: r.low, high: r.high });
    for (const name of names) {
      const color = colorOf(names, name);
      const setPoints = (history ? history.split : []).map((p) => ({ t: Date.parse(p.at), v: p.shares[name] ?? 0 }));
      if (set) setPoints.push({ t: Date.now(), v: set[name] });
      splitSeries.push({ id: `${name}:set`, color, step: true, points: setPoints });
      splitSeries.push({
        id: `${name}:served`,
        color,
        dashed: true,
        points: state.live.filter((p) => p.served).map((p) => ({ t: p.t, v: p.served[name] ?? 0 })),
      });
      const served = (history ? history.rewards : [])
        .filter((p) => p.variants[name])
        .map((p) => rewardPoint(Date.parse(p.at), p.variants[name]))
        .concat(state.live.filter((p) => p.rewards[name]).map((p) => rewardPoint(p.t, p.rewards[name])));
      const shadow = state.live.filter((p) => p.shadowRewards[name]).map((p) => rewardPoint(p.t, p.shadowRewards[name]));
      for (const [role, points] of [
        ['served', served],
        ['shadow', shadow],
      ]) {
        if (!points.length) continue;
        // The axis follows the means; an early interval from a handful of rewards is clipped, not allowed to flatten the chart.
        points.forEach((p) => rewardValues.push(p.v));
        rewardSeries.push({ id: `${name}:${role}`, color, dashed: role === 'shadow', points });
        rewardLegend.push({ label: role === 'shadow' ? `${name} as a shadow` : name, color, dashed: role === 'shadow' });
      }
    }
    chart($('split-chart'), splitSeries, { percent: true });
    const lo = rewardValues.length ? Math.min(...rewardValues) : 0;
    const hi = rewardValues.length ? Math.max(...rewardValues) : 1;
    chart($('reward-chart'), rewardSeries, { yMin: Math.min(0, lo), yMax: Math.max(1, hi) });
    legend(
      $('split-legend'),
      names.map((name) => ({ label: name, color: colorOf(names, name) })),
    );
    legend($('reward-legend'), rewardLegend);
    $('updated').textContent = clock(Date.now());
  }

  /** A contextual bandit's shares per segment (`"<feature>=<level>"`), as the CLI's `status` shows them; hidden for every other deployment. */
  function renderSegments(d, names) {
    const segments = Object.entries(d.segments || {});
    $('segments').hidden = !segments.length;
    if (!segments.length) return;
    $('segments-at').textContent = d.weightsAt || '–';
    document
      .querySelector('#segment-table thead')
      .replaceChildren(h('tr', {}, h('th', {}, 'segment'), ...names.map((name) => h('th', { class: 'num' }, name))));
    document
      .querySelector('#segment-table tbody')
      .replaceChildren(
        ...segments.map(([segment, shares]) =>
          h(
            'tr',
            { 'data-segment': segment },
            h('td', {}, segment),
            ...names.map((name) => h('td', { class: 'num', 'data-variant': name }, pct(shares[name]))),
          ),
        ),
      );
  }

  /** A plan's steps, the current one marked; a pause step or an operator's pause is neutral, only a failure red. */
  function renderStepper(d) {
    const plan = d.strategy.type === 'plan' && d.plan;
    $('plan-card').hidden = !plan;
    if (!plan) return $('stepper').replaceChildren();
    $('stepper').replaceChildren(
      ...d.strategy.steps.map((step, i) => {
        const n = i + 1;
        const kind = Object.keys(step).find((k) => step[k] !== undefined);
        const at = n === plan.step;
        const classes = [n < plan.step ? 'done' : at ? 'current' : 'upcoming', kind];
        if (at && plan.paused) classes.push('paused');
        if (at && plan.state === 'failed') classes.push('failed');
        return h(
          'li',
          { 'data-step': n, 'data-kind': kind, class: classes.join(' '), 'aria-current': at ? 'step' : false },
          h('span', { class: 'n' }, n < plan.step ? '✓' : `${n}`),
          stepLabel(step),
          at && plan.paused ? ' (paused)' : '',
        );
      }),
    );
  }

  // --- operator actions: POSTed with the admin key after a confirmation, the router's answer shown as it gave it ---
  /** The actions the deployment admits now, each with what it would do (said in the confirmation). */
  function actionsFor(d) {
    const list = [];
    const next = rev(d.version + 1);
    const single = d.strategy.type === 'single' ? d.strategy.variant : undefined;
    for (const { name } of d.variants) {
      if (name === single) continue;
      list.push({
        id: `promote:${name}`,
        label: `Promote ${name}`,
        path: 'promote',
        body: { variant: name },
        text: `${name} serves all traffic of ${d.name} as single ${name}, written as ${next}; the comparison in progress ends.`,
      });
    }
    if (d.version > 1)
      list.push({
        id: 'rollback',
        label: 'Roll back',
        path: 'rollback',
        danger: true,
        text: `The spec in force before ${rev(d.version)} is restored as ${next}.`,
      });
    if (d.plan) {
      const at = `step ${d.plan.step} of ${d.plan.of}`;
      if (d.plan.paused) list.push({ id: 'resume', label: 'Resume plan', path: 'plan/resume', text: `The plan of ${d.name} goes on from ${at}.` });
      else
        list.push({ id: 'pause', label: 'Pause plan', path: 'plan/pause', text: `The plan of ${d.name} stays at ${at} with its split as set, until resumed.` });
      list.push({
        id: 'abort',
        label: 'Abort plan',
        path: 'plan/abort',
        danger: true,
        text: `${d.strategy.primary} serves all traffic of ${d.name} (${next}); the plan is held until retried.`,
      });
    }
    const held = d.status && d.status.held;
    if (held !== undefined && held !== null)
      list.push({
        id: 'retry',
        label: `Retry ${rev(held)}`,
        path: 'retry',
        text: `${rev(held)}, which a rollback or an abort ended, is written again as ${next}, its comparison started afresh.`,
      });
    return list;
  }

  let shownActions = '';
  let pending = null;
  function renderActions(d) {
    const list = actionsFor(d);
    // Rebuilt only when what is offered changes: a poll does not steal a button from under the pointer.
    const signature = JSON.stringify([d.name, d.version, list.map((a) => a.id + a.text)]);
    if (signature === shownActions) return;
    shownActions = signature;
    $('actions').replaceChildren(
      ...(list.length
        ? list.map((action) => {
            const button = h('button', { type: 'button', 'data-action': action.id, class: action.danger ? 'danger' : '' }, action.label);
            button.addEventListener('click', () => ask(d.name, action));
            return button;
          })
        : [h('span', { class: 'muted' }, 'none for this deployment')]),
    );
  }

  function ask(name, action) {
    pending = { name, action };
    const kept = sessionStorage.getItem(ADMIN_ITEM);
    $('confirm-title').textContent = `${action.label} on ${name}?`;
    $('confirm-text').textContent = action.text;
    $('confirm-ok').textContent = action.label;
    $('key-field').hidden = !!kept;
    $('key-kept').hidden = !kept;
    $('admin-key').value = '';
    $('confirm').showModal();
    (kept ? $('confirm-ok') : $('admin-key')).focus();
  }

  async function confirmed() {
    const { name, action } = pending || {};
    $('confirm').close();
    pending = null;
    if (!action) return;
    const entered = $('admin-key').value.trim();
    if (entered) sessionStorage.setItem(ADMIN_ITEM, entered);
    const key = sessionStorage.getItem(ADMIN_ITEM);
    $('action-error').textContent = '';
    $('action-result').textContent = `${action.label}: sent…`;
    for (const button of document.querySelectorAll('#actions button')) button.disabled = true;
    try {
      const response = await fetch(`/v1/deployments/${encodeURIComponent(name)}/${action.path}`, {
        method: 'POST',
        headers: { accept: 'application/json', ...(action.body && { 'content-type': 'application/json' }), ...(key && { authorization: `Bearer ${key}` }) },
        body: action.body ? JSON.stringify(action.body) : undefined,
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        // A refused key is not kept: the next action asks again.
        if (response.status === 401) sessionStorage.removeItem(ADMIN_ITEM);
        const message = Array.isArray(answer.message) ? answer.message.join('; ') : answer.message || response.statusText;
        $('action-result').textContent = '';
        $('action-error').textContent = `${action.label} refused (${response.status}): ${message}`;
        return;
      }
      $('action-result').textContent = `${action.label}: done, ${name} is at ${rev(answer.version)}`;
    } catch (error) {
      $('action-result').textContent = '';
      $('action-error').textContent = `${action.label} failed: ${error.message}`;
    } finally {
      shownActions = '';
      await Promise.all([pollList(), pollDeployment(), pollHistory()]);
    }
  }

  $('confirm-ok').addEventListener('click', () => void confirmed());
  $('confirm-cancel').addEventListener('click', () => {
    pending = null;
    $('confirm').close();
  });
  $('admin-key').addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void confirmed();
  });
  $('forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(ADMIN_ITEM);
    $('key-kept').hidden = true;
    $('key-field').hidden = false;
    $('admin-key').focus();
  });

  // --- polling ---
  function select(name) {
    if (state.selected !== name) {
      state.selected = name;
      state.deployment = null;
      state.history = null;
      state.live = [];
      shownActions = '';
      $('action-result').textContent = '';
      $('action-error').textContent = '';
    }
    history.replaceState(null, '', `#${encodeURIComponent(name)}`);
    for (const li of document.querySelectorAll('#deployments li')) li.classList.toggle('selected', li.dataset.name === name);
    void pollDeployment();
    void pollHistory();
  }

  async function pollList() {
    try {
      listed = (await get('/v1/deployments')).deployments;
      renderList();
      $('connection').textContent = `live — ${listed.length} deployment${listed.length === 1 ? '' : 's'}`;
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
      const shadowRewards = {};
      for (const [variant, roles] of Object.entries(d.report || {})) {
        if (roles.served && roles.served.reward) rewards[variant] = roles.served.reward;
        if (roles.shadow && roles.shadow.reward) shadowRewards[variant] = roles.shadow.reward;
      }
      state.live.push({ t: Date.now(), served: d.served && d.served.shares, rewards, shadowRewards });
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
  $('deployments').addEventListener('keydown', (event) => {
    const li = event.key === 'Enter' && event.target.closest('li[data-name]');
    if (li) select(li.dataset.name);
  });
  $('filter').addEventListener('input', renderList);
  window.addEventListener('hashchange', () => select(decodeURIComponent(location.hash.slice(1))));

  void pollList();
  if (state.selected) select(state.selected);
  setInterval(pollList, 2000);
  setInterval(pollDeployment, 1000);
  setInterval(pollHistory, 3000);
})();
