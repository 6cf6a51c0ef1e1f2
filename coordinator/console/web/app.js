// ConnGuard console: renders every page from the JSON API (/api/v1/, coordinator/console/README.md)
// and keeps it live through Server-Sent Events (/api/v1/events).
// Safety: every value is put into the page with textContent / createElement (never as markup), so a
// policy named "<img src=x onerror=alert(1)>" is shown as text. No inline script (CSP default-src 'self').
'use strict';

(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  const main = document.querySelector('main');
  const pageName = main.dataset.page;
  const pathParts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let me = null;

  // ---- helpers --------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    return put(e, children);
  }
  // Appends children (nested arrays flattened; null / false skipped; strings as text nodes).
  function put(node, ...children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function word(name, prefix) {
    if (!name) return '';
    return name.startsWith(prefix) ? name.slice(prefix.length) : name;
  }
  // The status words people read: OK is PASS, no report yet is NO REPORT.
  function statusWord(s) {
    const w = word(s, 'CHECK_STATUS_');
    if (w === 'OK') return 'PASS';
    if (w === 'UNSPECIFIED' || w === '') return 'NO REPORT';
    return w;
  }
  function agentWord(s) {
    const w = word(s, 'AGENT_STATE_').toLowerCase();
    return w === 'unspecified' || w === '' ? 'unknown' : w;
  }
  function taskState(s) { return word(s, 'TASK_STATE_'); }
  function badge(text, cls, field) { return el('span', { class: 'status ' + (cls || text), 'data-field': field }, text); }
  function when(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    if (isNaN(d.getTime()) || d.getTime() <= 0) return '';
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }
  function age(ts) {
    if (!ts) return 'never';
    const t = new Date(ts).getTime();
    if (isNaN(t) || t <= 0) return 'never';
    let s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 90) return s + ' s ago';
    s = Math.round(s / 60);
    if (s < 90) return s + ' min ago';
    s = Math.round(s / 60);
    if (s < 48) return s + ' h ago';
    return Math.round(s / 24) + ' d ago';
  }
  function message(node, text, ok) {
    node.textContent = text || '';
    node.className = 'msg ' + (text ? (ok ? 'ok' : 'error') : '');
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.message || body.error)) || ('HTTP ' + status));
      this.status = status;
      this.body = body || {};
    }
  }
  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (method !== 'GET') {
      opts.headers['X-CSRF-Token'] = csrf;
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body || {});
    }
    const res = await fetch('/api/v1/' + path, opts);
    let json = null;
    try { json = await res.json(); } catch (e) { json = null; }
    if (res.status === 401 && json && json.error === 'unauthenticated') {
      location.href = '/auth/sign-in?return=' + encodeURIComponent(location.pathname + location.search);
      throw new ApiError(401, json);
    }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }
  function errorBox(err) { return el('p', { class: 'msg error', 'data-field': 'message' }, err.message || String(err)); }

  // ---- live updates -----------------------------------------------------------------------------
  let refresh = null;      // the current page's reload function
  let relevant = () => true;
  let timer = null;
  function scheduleRefresh() {
    if (timer || !refresh) return;
    timer = setTimeout(() => { timer = null; refresh().catch(() => {}); }, 100);
  }
  function startLive() {
    if (!window.EventSource) return;
    const dot = document.querySelector('[data-field="live"]');
    const es = new EventSource('/api/v1/events');
    es.onopen = () => dot && dot.classList.add('on');
    es.onerror = () => dot && dot.classList.remove('on');
    es.onmessage = (ev) => {
      let change = {};
      try { change = JSON.parse(ev.data); } catch (e) { return; }
      if (relevant(change)) scheduleRefresh();
    };
    es.addEventListener('reset', () => scheduleRefresh());
  }

  // ---- pages ------------------------------------------------------------------------------------
  const pages = {};

  pages.tenants = function () {
    const params = new URLSearchParams(location.search);
    const st = {
      status: params.get('status') || '', q: params.get('q') || '', sort: params.get('sort') || 'status',
      page: parseInt(params.get('page') || '1', 10) || 1, pageSize: 50,
    };
    const status = el('select', { name: 'status', 'aria-label': 'status' },
      ['', 'FAIL', 'ERROR', 'WARN', 'PASS'].map((s) => el('option', { value: s, selected: s === st.status }, s || 'all statuses')));
    const q = el('input', { name: 'q', type: 'search', placeholder: 'search tenant or account', value: st.q });
    const sort = el('select', { name: 'sort', 'aria-label': 'sort' },
      [['status', 'worst status first'], ['tenant', 'tenant'], ['lastReport', 'oldest report first'],
        ['openTasks', 'most open tasks'], ['alerts', 'most alerts'], ['agent', 'offline agents first']]
        .map(([v, t]) => el('option', { value: v, selected: v === st.sort }, t)));
    const summary = el('span', { class: 'muted', 'data-field': 'summary' });
    const body = el('tbody');
    const prev = el('button', { type: 'button', 'data-action': 'prev-page' }, '← previous');
    const next = el('button', { type: 'button', 'data-action': 'next-page' }, 'next →');
    const pageInfo = el('span', { class: 'muted', 'data-field': 'page' });
    const msg = el('p', { class: 'msg', 'data-field': 'message' });
    put(clear(main), 
      el('h1', {}, 'Tenants'),
      el('div', { class: 'controls' }, status, q, sort, summary),
      msg,
      el('table', {}, el('thead', {}, el('tr', {}, ['Tenant', 'Status', 'Failing checks', 'Account', 'Agent', 'Last report', 'Open tasks', 'Alerts'].map((h) => el('th', {}, h)))), body),
      el('div', { class: 'pager' }, prev, pageInfo, next));
    let pages = 1;
    function syncUrl() {
      const p = new URLSearchParams();
      if (st.status) p.set('status', st.status);
      if (st.q) p.set('q', st.q);
      if (st.sort !== 'status') p.set('sort', st.sort);
      if (st.page > 1) p.set('page', st.page);
      history.replaceState(null, '', '/tenants' + (p.toString() ? '?' + p : ''));
    }
    async function load() {
      const p = new URLSearchParams({ sort: st.sort, page: st.page, pageSize: st.pageSize });
      if (st.status) p.set('status', st.status === 'PASS' ? 'ok' : st.status);
      if (st.q) p.set('q', st.q);
      let data;
      try { data = await api('GET', 'tenants?' + p); } catch (e) { message(msg, e.message); return; }
      message(msg, '');
      pages = data.pages;
      clear(body);
      for (const t of data.tenants) {
        const agent = agentWord(t.agentState);
        body.append(el('tr', { 'data-tenant': t.tenant },
          el('td', {}, el('a', { href: '/tenants/' + encodeURIComponent(t.tenant) }, t.tenant)),
          el('td', {}, badge(statusWord(t.overall), statusWord(t.overall).replace(' ', '_'), 'status')),
          el('td', { 'data-field': 'failing-checks' }, (t.failingChecks || []).join(', ')),
          el('td', { 'data-field': 'account' }, t.accountUpn),
          el('td', { 'data-field': 'agent' }, agent),
          el('td', { 'data-field': 'last-report' }, age(t.lastReportAt)),
          el('td', { 'data-field': 'open-tasks' }, String(t.openTasks)),
          el('td', { 'data-field': 'alerts' }, String(t.activeAlerts))));
      }
      if (data.tenants.length === 0) body.append(el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No tenant matches.')));
      const c = data.counts || {};
      summary.textContent = data.all + ' tenants · ' + (c.fail || 0) + ' FAIL · ' + (c.error || 0) + ' ERROR · ' + (c.warn || 0) + ' WARN · ' + (c.ok || 0) + ' PASS';
      pageInfo.textContent = 'page ' + data.page + ' of ' + data.pages + ' (' + data.total + ' shown by the filter)';
      prev.disabled = st.page <= 1;
      next.disabled = st.page >= pages;
    }
    status.addEventListener('change', () => { st.status = status.value; st.page = 1; syncUrl(); load(); });
    sort.addEventListener('change', () => { st.sort = sort.value; st.page = 1; syncUrl(); load(); });
    let typing = null;
    q.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => { st.q = q.value.trim(); st.page = 1; syncUrl(); load(); }, 200);
    });
    prev.addEventListener('click', () => { if (st.page > 1) { st.page--; syncUrl(); load(); } });
    next.addEventListener('click', () => { if (st.page < pages) { st.page++; syncUrl(); load(); } });
    relevant = (c) => ['report', 'task', 'alert'].includes(c.kind);
    return load;
  };

  function policyNames(report) {
    const names = {};
    for (const c of (report && report.checks) || [])
      for (const e of c.evidence || []) if (e.kind === 'policy' && e.id && e.name) names[e.id] = e.name;
    return names;
  }
  function policyRef(id, names) {
    return names[id] ? el('span', { class: 'policy-name', 'data-field': 'policy-name', title: id }, names[id]) : el('code', {}, id);
  }
  function tasksTable(tasks, withTenant) {
    const rows = tasks.map((t) => el('tr', { 'data-task-id': t.taskId },
      el('td', {}, el('a', { href: '/tasks/' + encodeURIComponent(t.taskId) }, (t.plan && t.plan.summary) || t.taskId)),
      withTenant ? el('td', { 'data-field': 'tenant' }, t.tenant) : null,
      el('td', {}, badge(taskState(t.state), taskState(t.state), 'state')),
      el('td', { 'data-field': 'risk' }, word(t.risk, 'RISK_')),
      el('td', {}, (t.approvals || []).length + ' of ' + t.approvalsRequired),
      el('td', {}, age(t.updatedAt))));
    return el('table', {}, el('thead', {}, el('tr', {}, ['Task', withTenant ? 'Tenant' : null, 'State', 'Risk', 'Approvals', 'Updated'].filter(Boolean).map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No tasks.'))));
  }
  function alertsTable(alerts) {
    const rows = alerts.map((r) => {
      const a = r.alert || {};
      return el('tr', { 'data-alert-cause': a.cause, 'data-tenant': r.tenant },
        el('td', { 'data-field': 'tenant' }, el('a', { href: '/tenants/' + encodeURIComponent(r.tenant) }, r.tenant)),
        el('td', {}, badge(word(a.severity, 'SEVERITY_').toLowerCase(), undefined, 'severity')),
        el('td', { 'data-field': 'state' }, word(a.state, 'ALERT_STATE_')),
        el('td', {}, el('div', { 'data-field': 'title' }, a.title), el('div', { class: 'muted' }, a.detail)),
        el('td', {}, a.taskId ? el('a', { href: '/tasks/' + encodeURIComponent(a.taskId) }, 'task') : ''),
        el('td', {}, when(a.raisedAt)));
    });
    return el('table', {}, el('thead', {}, el('tr', {}, ['Tenant', 'Severity', 'State', 'Alert', 'Task', 'Raised'].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No alerts.'))));
  }

  pages.tenant = function () {
    const key = pathParts[1];
    relevant = (c) => c.tenant === key;
    return async function load() {
      let d;
      try { d = await api('GET', 'tenants/' + encodeURIComponent(key)); } catch (e) { put(clear(main), el('h1', {}, key), errorBox(e)); return; }
      const s = d.summary || {};
      const report = d.report || null;
      const names = policyNames(report);
      const checks = ((report && report.checks) || []).map((c) => {
        const w = statusWord(c.status);
        return el('div', { class: 'card check ' + w, 'data-check': c.id, 'data-subject': c.subject || undefined },
          el('h3', {}, badge(w, w, 'status'), el('span', {}, c.id), c.subject ? el('code', { class: 'muted' }, c.subject) : null),
          el('p', { 'data-field': 'reason' }, c.reason),
          (c.evidence || []).length ? el('ul', { class: 'evidence' }, c.evidence.map((e) => el('li', {},
            el('span', { class: 'muted' }, e.kind + ': '),
            e.kind === 'policy' ? el('span', { class: 'policy-name', 'data-field': 'policy-name', title: e.id }, e.name || e.id) : el('span', {}, e.name || e.id),
            e.detail ? el('span', { class: 'muted' }, ' — ' + e.detail) : null))) : null);
      });
      const verdicts = ((report && report.verdicts) || []).map((v) => el('tr', { 'data-resource': v.resourceAppId },
        el('td', {}, v.resourceName || v.resourceAppId),
        el('td', {}, v.clientAppType),
        el('td', { 'data-field': 'result' }, v.result),
        el('td', {}, (v.causes || []).map((c, i) => [i ? ', ' : '', policyRef(c, names)])),
        el('td', {}, (v.uncertain || []).map((c, i) => [i ? ', ' : '', policyRef(c, names)]))));
      const timeline = (d.timeline || []).map((e) => el('tr', {},
        el('td', {}, String(e.cycle)),
        el('td', {}, word(e.kind, 'CHANGE_KIND_')),
        el('td', {}, e.subjectName || e.subjectId),
        el('td', {}, (e.changedFields || []).join(', ')),
        el('td', {}, e.initiatedBy || '')));
      put(clear(main), 
        el('h1', {}, 'Tenant ', el('span', { 'data-field': 'tenant' }, key), ' ', badge(statusWord(s.overall), statusWord(s.overall).replace(' ', '_'), 'overall')),
        el('div', { class: 'card' }, el('dl', { class: 'facts' },
          el('dt', {}, 'Connection account'), el('dd', { 'data-field': 'account' }, s.accountUpn || (report && report.accountUpn) || ''),
          el('dt', {}, 'Agent'), el('dd', { 'data-field': 'agent' }, agentWord(s.agentState)),
          el('dt', {}, 'Last report'), el('dd', {}, age(s.lastReportAt) + (s.lastReportAt ? ' (' + when(s.lastReportAt) + ')' : '')),
          el('dt', {}, 'Open tasks'), el('dd', {}, String(s.openTasks || 0)),
          el('dt', {}, 'Active alerts'), el('dd', {}, String(s.activeAlerts || 0)))),
        el('h2', {}, 'Checks'),
        checks.length ? checks : el('p', { class: 'muted' }, 'No report yet.'),
        el('h2', {}, 'Verdict per target resource'),
        el('table', {}, el('thead', {}, el('tr', {}, ['Resource', 'Client', 'Result', 'Caused by', 'Uncertain'].map((h) => el('th', {}, h)))),
          el('tbody', {}, verdicts.length ? verdicts : el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No verdicts.')))),
        el('h2', {}, 'Tasks'), tasksTable(d.tasks || [], false),
        el('h2', {}, 'Alerts'), alertsTable((d.alerts || []).map((a) => a.tenant ? a : { tenant: key, alert: a })),
        el('h2', {}, 'Change timeline'),
        el('table', {}, el('thead', {}, el('tr', {}, ['Cycle', 'Change', 'Subject', 'Fields', 'By'].map((h) => el('th', {}, h)))),
          el('tbody', {}, timeline.length ? timeline : el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No changes seen.')))));
    };
  };

  pages.tasks = function () {
    const params = new URLSearchParams(location.search);
    const state = el('select', { name: 'state', 'aria-label': 'state' },
      [['', 'all states'], ['PENDING_APPROVAL', 'waiting for approval'], ['APPROVED', 'approved'], ['DISPATCHED', 'dispatched'],
        ['SUCCEEDED', 'succeeded'], ['VERIFIED', 'verified'], ['FAILED', 'failed'], ['REJECTED', 'rejected'], ['EXPIRED', 'expired']]
        .map(([v, t]) => el('option', { value: v, selected: v === (params.get('state') || '') }, t)));
    const holder = el('div');
    put(clear(main), el('h1', {}, 'Tasks'), el('div', { class: 'controls' }, state), holder);
    relevant = (c) => c.kind === 'task';
    async function load() {
      const q = state.value ? '?state=' + encodeURIComponent(state.value) : '';
      try {
        const d = await api('GET', 'tasks' + q);
        put(clear(holder), tasksTable(d.tasks, true));
      } catch (e) { put(clear(holder), errorBox(e)); }
    }
    state.addEventListener('change', () => {
      history.replaceState(null, '', '/tasks' + (state.value ? '?state=' + state.value : ''));
      load();
    });
    return load;
  };

  // The exact Graph change as a before/after diff of the object it changes.
  function planDiff(plan) {
    const lines = [];
    const list = (name, before, after) => {
      lines.push(['same', name + ': [']);
      const b = new Set(before || []), a = new Set(after || []);
      for (const x of before || []) lines.push([a.has(x) ? 'same' : 'del', (a.has(x) ? '   ' : ' - ') + JSON.stringify(x) + ',']);
      for (const x of after || []) if (!b.has(x)) lines.push(['add', ' + ' + JSON.stringify(x) + ',']);
      lines.push(['same', ']']);
    };
    if (plan.excludeFromCaPolicy) {
      const p = plan.excludeFromCaPolicy;
      lines.push(['same', 'conditionalAccessPolicy ' + p.policyId + ' (' + p.policyName + ')']);
      list('conditions.users.excludeUsers', p.excludeUsersBefore, p.excludeUsersAfter);
    } else if (plan.removeCaPolicyExclusion) {
      const p = plan.removeCaPolicyExclusion;
      lines.push(['same', 'conditionalAccessPolicy ' + p.policyId + ' (' + p.policyName + ')']);
      list('conditions.users.' + p.exclusionList, p.excludeBefore, p.excludeAfter);
    } else if (plan.disablePerUserMfa) {
      const p = plan.disablePerUserMfa;
      lines.push(['same', 'user ' + p.userId + ' (' + p.userPrincipalName + ') authentication/requirements']);
      lines.push(['del', ' - perUserMfaState: ' + JSON.stringify(p.expectedState)]);
      lines.push(['add', ' + perUserMfaState: "disabled"']);
    } else if (plan.removePrivilegedRole) {
      const p = plan.removePrivilegedRole;
      lines.push(['del', ' - roleAssignment ' + p.roleAssignmentId + ': ' + p.roleName + ' (' + p.roleTemplateId + ') for ' + p.userPrincipalName + ' (' + p.userId + ')']);
      lines.push(['add', ' + (deleted)']);
    } else {
      lines.push(['same', 'No Graph change: a person carries this out (guidance). Approving records that it was done.']);
    }
    return el('pre', { class: 'diff', 'data-field': 'diff' }, lines.map(([cls, text]) => el('span', { class: cls }, text)));
  }
  function preconditions(plan) {
    const out = [];
    if (plan.excludeFromCaPolicy) {
      const p = plan.excludeFromCaPolicy;
      out.push('policy modifiedDateTime is still ' + (p.expectedModifiedDateTime || 'null (never modified)'));
      out.push('excludeUsers is still exactly as read when planned');
      out.push('user ' + p.userId + ' still resolves to ' + p.userPrincipalName);
    } else if (plan.removeCaPolicyExclusion) {
      const p = plan.removeCaPolicyExclusion;
      out.push('policy modifiedDateTime is still ' + (p.expectedModifiedDateTime || 'null (never modified)'));
      out.push(p.exclusionList + ' is still exactly as read when planned');
    } else if (plan.disablePerUserMfa) {
      const p = plan.disablePerUserMfa;
      out.push('perUserMfaState is still ' + p.expectedState);
      out.push('user ' + p.userId + ' still resolves to ' + p.userPrincipalName);
    } else if (plan.removePrivilegedRole) {
      const p = plan.removePrivilegedRole;
      out.push('the assignment still grants ' + p.roleTemplateId + ' to ' + p.userId);
      out.push('user ' + p.userId + ' still resolves to ' + p.userPrincipalName);
    }
    return out;
  }

  pages.task = function () {
    const id = pathParts[1];
    relevant = (c) => c.kind === 'task' && c.taskId === id;
    const comment = el('textarea', { name: 'comment', placeholder: 'comment (required to reject)' });
    const msg = el('p', { class: 'msg', 'data-field': 'message', role: 'status' });
    let current = null;
    const approve = el('button', { type: 'button', class: 'primary', 'data-action': 'approve' }, 'Approve');
    const reject = el('button', { type: 'button', class: 'danger', 'data-action': 'reject' }, 'Reject');
    const view = el('div');
    async function decide(verb) {
      if (!current) return;
      approve.disabled = reject.disabled = true;
      const body = verb === 'approve' ? { planVersion: current.planVersion, comment: comment.value } : { reason: comment.value };
      try {
        const r = await api('POST', 'tasks/' + encodeURIComponent(id) + '/' + verb, body);
        comment.value = '';
        message(msg, verb === 'approve' ? 'Approved (plan version ' + current.planVersion + ').' : 'Rejected.', true);
        if (r.task) render(r.task);
      } catch (e) {
        if (e.status === 401 && e.body.error === 'reauth_required' && e.body.signIn) {
          message(msg, 'Approving needs a fresh sign-in; taking you there…');
          location.href = e.body.signIn;
          return;
        }
        message(msg, e.message);
      } finally {
        approve.disabled = reject.disabled = false;
      }
    }
    approve.addEventListener('click', () => decide('approve'));
    reject.addEventListener('click', () => {
      if (!comment.value.trim()) { message(msg, 'Say why you reject it (comment).'); return; }
      decide('reject');
    });
    function render(t) {
      current = t;
      const st = taskState(t.state);
      const plan = t.plan || {};
      const open = st === 'PENDING_APPROVAL' || st === 'PROPOSED';
      const mine = (t.approvals || []).some((a) => a.admin === (me && me.upn) && a.planVersion === t.planVersion);
      const canApprove = me && me.canApprove && st === 'PENDING_APPROVAL' && !mine;
      const canReject = me && me.canReject && open;
      const conds = preconditions(plan);
      put(clear(view), 
        el('h1', {}, plan.summary || ('Task ' + t.taskId)),
        el('div', { class: 'card' }, el('dl', { class: 'facts' },
          el('dt', {}, 'State'), el('dd', {}, badge(st, st, 'state'), t.stateReason ? el('span', { class: 'muted', 'data-field': 'state-reason' }, ' ' + t.stateReason) : null),
          el('dt', {}, 'Tenant'), el('dd', { 'data-field': 'tenant' }, el('a', { href: '/tenants/' + encodeURIComponent(t.tenant) }, t.tenant)),
          el('dt', {}, 'Why'), el('dd', { 'data-field': 'reason' }, t.reason),
          el('dt', {}, 'Kind'), el('dd', {}, word(t.kind, 'REMEDIATION_KIND_')),
          el('dt', {}, 'Risk'), el('dd', { 'data-field': 'risk' }, word(t.risk, 'RISK_')),
          el('dt', {}, 'Plan version'), el('dd', { 'data-field': 'plan-version' }, String(t.planVersion)),
          el('dt', {}, 'Approvals'), el('dd', { 'data-field': 'approvals' }, (t.approvals || []).length + ' of ' + t.approvalsRequired + ' needed',
            (t.approvals || []).length ? el('ul', {}, t.approvals.map((a) => el('li', {}, a.admin + ' — ' + when(a.at) + (a.comment ? ' — ' + a.comment : '')))) : null),
          el('dt', {}, 'Expires'), el('dd', {}, when(t.expiresAt)),
          el('dt', {}, 'Created'), el('dd', {}, when(t.createdAt)))),
        el('h2', {}, 'The change'),
        plan.httpMethod ? el('p', {}, el('code', { 'data-field': 'graph-call' }, plan.httpMethod + ' ' + plan.httpPath)) : null,
        planDiff(plan),
        plan.httpBody ? el('details', {}, el('summary', {}, 'Exact request body'), el('pre', { class: 'code' }, plan.httpBody)) : null,
        conds.length ? [el('h2', {}, 'Precondition (checked by the agent right before writing; else nothing is written)'),
          el('ul', { 'data-field': 'precondition' }, conds.map((c) => el('li', {}, c)))] : null,
        (canApprove || canReject) ? el('div', { class: 'card' }, el('h2', {}, 'Decide'), comment,
          el('div', { class: 'controls' }, canApprove ? approve : null, canReject ? reject : null)) : null,
        msg);
    }
    return async function load() {
      try {
        render(await api('GET', 'tasks/' + encodeURIComponent(id)));
      } catch (e) { put(clear(main), el('h1', {}, 'Task ' + id), errorBox(e)); return; }
      if (!main.contains(view)) put(clear(main), view);
    };
  };

  pages.alerts = function () {
    const all = el('input', { type: 'checkbox', name: 'all' });
    const holder = el('div');
    put(clear(main), el('h1', {}, 'Alerts'),
      el('div', { class: 'controls' }, el('label', {}, all, ' include resolved')), holder);
    relevant = (c) => c.kind === 'alert';
    async function load() {
      try {
        const d = await api('GET', 'alerts' + (all.checked ? '?all=1' : ''));
        put(clear(holder), alertsTable(d.alerts));
      } catch (e) { put(clear(holder), errorBox(e)); }
    }
    all.addEventListener('change', load);
    return load;
  };

  pages.audit = function () {
    const filter = el('input', { name: 'filter', type: 'search', placeholder: 'filter: actor, action, tenant, task' });
    const chain = el('span', { 'data-field': 'chain' });
    const holder = el('div');
    let entries = [];
    put(clear(main), el('h1', {}, 'Audit'),
      el('div', { class: 'controls' }, filter, el('span', {}, 'Hash chain: ', chain)), holder);
    function render() {
      const f = filter.value.trim().toLowerCase();
      const rows = entries.filter((e) => !f || [e.actor, e.action, e.tenant, e.taskId, e.detail].some((x) => (x || '').toLowerCase().includes(f)))
        .map((e) => el('tr', { 'data-seq': e.seq },
          el('td', {}, String(e.seq)), el('td', {}, when(e.at)), el('td', { 'data-field': 'actor' }, e.actor),
          el('td', { 'data-field': 'action' }, e.action), el('td', {}, e.tenant),
          el('td', {}, e.taskId ? el('a', { href: '/tasks/' + encodeURIComponent(e.taskId) }, e.taskId.slice(0, 8)) : ''),
          el('td', { 'data-field': 'detail' }, e.detail)));
      put(clear(holder), el('table', {}, el('thead', {}, el('tr', {}, ['#', 'When', 'Actor', 'Action', 'Tenant', 'Task', 'Detail'].map((h) => el('th', {}, h)))),
        el('tbody', {}, rows)));
    }
    filter.addEventListener('input', render);
    relevant = (c) => c.kind === 'audit';
    return async function load() {
      try {
        const d = await api('GET', 'audit?verify=1&limit=500');
        entries = d.entries;
        const v = d.verification || {};
        chain.textContent = v.ok ? 'verified' : 'BROKEN at ' + v.firstBadSeq;
        chain.className = 'status ' + (v.ok ? 'OK' : 'FAIL');
        render();
      } catch (e) { put(clear(holder), errorBox(e)); }
    };
  };

  pages.subscriptions = function () {
    const admin = me && me.canManageWebhooks;
    const msg = el('p', { class: 'msg', 'data-field': 'message', role: 'status' });
    const holder = el('div');
    const id = el('input', { type: 'hidden', name: 'id' });
    const name = el('input', { name: 'name', required: true });
    const url = el('input', { name: 'url', type: 'url', required: true, placeholder: 'https://…' });
    const format = el('select', { name: 'format' }, [['WEBHOOK_FORMAT_GENERIC', 'generic JSON'], ['WEBHOOK_FORMAT_TEAMS', 'Microsoft Teams'], ['WEBHOOK_FORMAT_SLACK', 'Slack']].map(([v, t]) => el('option', { value: v }, t)));
    const sev = el('select', { name: 'minSeverity' }, [['SEVERITY_INFO', 'info'], ['SEVERITY_WARNING', 'warning'], ['SEVERITY_CRITICAL', 'critical']].map(([v, t]) => el('option', { value: v, selected: v === 'SEVERITY_WARNING' }, t)));
    const tenants = el('input', { name: 'tenants', placeholder: 'tenant keys, comma-separated (empty = all)' });
    const save = el('button', { type: 'submit', class: 'primary' }, 'Save');
    const reset = el('button', { type: 'button', 'data-action': 'new-webhook' }, 'New');
    const form = el('form', { class: 'webhook card', 'data-form': 'webhook' }, id,
      el('label', {}, 'Name'), name, el('label', {}, 'URL'), url, el('label', {}, 'Format'), format,
      el('label', {}, 'Minimum severity'), sev, el('label', {}, 'Tenants'), tenants,
      el('div', { class: 'actions' }, save, reset));
    function fill(w) {
      id.value = w ? w.id : ''; name.value = w ? w.name : ''; url.value = w ? w.url : '';
      format.value = w ? w.format : 'WEBHOOK_FORMAT_GENERIC'; sev.value = w ? w.minSeverity : 'SEVERITY_WARNING';
      tenants.value = w ? (w.tenants || []).join(', ') : '';
      save.textContent = w ? 'Save changes' : 'Add';
    }
    fill(null);
    reset.addEventListener('click', () => fill(null));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const sub = { name: name.value.trim(), url: url.value.trim(), format: format.value, minSeverity: sev.value,
        tenants: tenants.value.split(',').map((s) => s.trim()).filter(Boolean) };
      try {
        if (id.value) await api('PUT', 'webhooks/' + encodeURIComponent(id.value), sub);
        else await api('POST', 'webhooks', sub);
        message(msg, 'Saved.', true);
        fill(null);
        await load();
      } catch (e) { message(msg, e.message); }
    });
    put(clear(main), el('h1', {}, 'Alert subscriptions'),
      admin ? form : el('p', { class: 'muted' }, 'Only admins add, change or remove subscriptions.'), msg, holder);
    relevant = (c) => c.kind === 'webhook';
    async function load() {
      let d;
      try { d = await api('GET', 'webhooks'); } catch (e) { put(clear(holder), errorBox(e)); return; }
      const rows = d.webhooks.map((w) => el('tr', { 'data-webhook-id': w.id },
        el('td', { 'data-field': 'name' }, w.name), el('td', { 'data-field': 'url' }, w.url),
        el('td', {}, word(w.format, 'WEBHOOK_FORMAT_').toLowerCase()), el('td', {}, word(w.minSeverity, 'SEVERITY_').toLowerCase()),
        el('td', {}, (w.tenants || []).join(', ') || 'all'),
        el('td', {}, w.fromConfig ? 'config file' : (w.createdBy + ' ' + when(w.updatedAt))),
        el('td', {}, admin ? [
          el('button', { type: 'button', 'data-action': 'test-webhook', onclick: async () => {
            try { await api('POST', 'webhooks/' + encodeURIComponent(w.id) + '/test'); message(msg, 'Test alert queued for ' + w.name + '.', true); } catch (e) { message(msg, e.message); }
          } }, 'Test'),
          w.fromConfig ? null : el('button', { type: 'button', 'data-action': 'edit-webhook', onclick: () => fill(w) }, 'Change'),
          w.fromConfig ? null : el('button', { type: 'button', class: 'danger', 'data-action': 'remove-webhook', onclick: async () => {
            try { await api('DELETE', 'webhooks/' + encodeURIComponent(w.id)); message(msg, 'Removed ' + w.name + '.', true); await load(); } catch (e) { message(msg, e.message); }
          } }, 'Remove')] : '')));
      put(clear(holder), el('table', {}, el('thead', {}, el('tr', {}, ['Name', 'URL', 'Format', 'Min severity', 'Tenants', 'Source', ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No subscriptions.')))));
    }
    return load;
  };

  // ---- start ------------------------------------------------------------------------------------
  async function start() {
    for (const a of document.querySelectorAll('[data-nav]'))
      if (a.dataset.nav === pageName || a.dataset.nav + 's' === pageName || pageName === a.dataset.nav.replace(/s$/, '')) a.classList.add('current');
    try {
      me = await api('GET', 'me');
      document.querySelector('[data-field="whoami"]').textContent = me.upn + ' (' + me.role + ')';
    } catch (e) {
      put(clear(main), errorBox(e));
      return;
    }
    const make = pages[pageName];
    if (!make) { put(clear(main), el('p', {}, 'Unknown page.')); return; }
    refresh = make();
    await refresh();
    startLive();
  }
  start();
})();
