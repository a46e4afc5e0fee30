/*
 * klaviyo-snippets preview: the live inspector. Listens to /api/stream (server-sent events) and
 * lists each request Klaviyo received, newest first, with its judgement (and the stand-in's lint
 * warnings: accepted, but not as meant, each with its fix), body, headers, profile and the
 * generated snippet behind it.
 *
 * Everything shown comes from shoppers' pages (event names, property values, reasons): it is
 * written with textContent only, never parsed as HTML.
 */
(function (window, document) {
  'use strict';

  function $(id) {
    return document.getElementById(id);
  }

  var list = $('entries');
  var shop = $('shop');
  var summary = $('summary');
  var metricFilter = $('filter-metric');
  var statusFilter = $('filter-status');
  var STATUSES = ['good', 'bad', 'duplicate', 'dropped', 'warning', 'pending'];

  var state = {
    entries: {}, // key -> {data, li, profilePre}
    profiles: {},
    stubUrl: null,
    planVersion: null,
    notice: '', // shown while the list is empty (after Clear)
    open: {} // keys whose details the reader opened
  };

  // -- small DOM helpers (text only) --------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function pretty(value) {
    if (typeof value === 'string') {
      return value;
    }
    try {
      return JSON.stringify(value, null, 2);
    } catch (e) {
      return String(value);
    }
  }

  function clock(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) {
      return '';
    }
    function pad(n, w) {
      n = String(n);
      while (n.length < w) {
        n = '0' + n;
      }
      return n;
    }
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' +
      pad(d.getMilliseconds(), 3);
  }

  function section(title, text, open, className) {
    var box = el('details', 'section' + (className ? ' ' + className : ''));
    if (open) {
      box.open = true;
    }
    box.appendChild(el('summary', null, title));
    var pre = el('pre', null, text);
    pre.tabIndex = 0; // long bodies scroll: reachable by keyboard
    box.appendChild(pre);
    return { box: box, pre: pre };
  }

  function headerText(headers) {
    var lines = [];
    for (var name in headers) {
      if (Object.prototype.hasOwnProperty.call(headers, name)) {
        lines.push(name + ': ' + headers[name]);
      }
    }
    return lines.join('\n');
  }

  function callText(call) {
    var args = call.args || [];
    var parts = [];
    for (var i = 0; i < args.length; i++) {
      // JavaScript as the page wrote it: a metric name is a quoted string.
      parts.push(typeof args[i] === 'string' ? JSON.stringify(args[i]) : pretty(args[i]));
    }
    return 'klaviyo.' + (call.method || '?') + '(' + parts.join(', ') + ')';
  }

  function profileText(id) {
    if (!id) {
      return 'No profile: nothing reached Klaviyo for this one.';
    }
    var profile = state.profiles[id];
    return profile ? pretty(profile) : 'Profile ' + id + ' (not known to the stand-in any more)';
  }

  // -- one entry ------------------------------------------------------------------------------
  function whereText(d) {
    var parts = [];
    if (d.request) {
      parts.push(d.request.method + ' ' + d.request.path);
      parts.push(d.http_status ? String(d.http_status) : 'no answer yet');
    } else if (d.source === 'snippet') {
      parts.push(d.status === 'warning' ? 'generated code: sent, a value left out' : 'generated code: nothing sent');
    } else {
      parts.push('onsite script: nothing sent');
    }
    parts.push(clock(d.time));
    return parts.join(' · ');
  }

  function renderEntry(d) {
    var li = el('li', 'entry status-' + d.status);
    li.setAttribute('data-key', d.key);
    li.setAttribute('data-status', d.status);
    li.setAttribute('data-metric', d.metric || '');

    var details = el('details', 'entry-details');
    if (state.open[d.key]) {
      details.open = true;
    }
    details.addEventListener('toggle', function () {
      if (details.open) {
        state.open[d.key] = true;
      } else {
        delete state.open[d.key];
      }
    });

    var head = el('summary', 'entry-summary');
    head.appendChild(el('span', 'badge status-' + d.status, d.status));
    head.appendChild(el('span', 'metric', d.metric || '(no metric)'));
    var warnings = d.warnings || [];
    if (warnings.length) {
      // The stand-in's lint: Klaviyo accepts the event (it stays good), but not as meant.
      li.setAttribute('data-warnings', String(warnings.length));
      head.appendChild(el('span', 'badge lint', warnings.length === 1 ? '1 warning' : warnings.length + ' warnings'));
    }
    if (d.subject) {
      head.appendChild(el('span', 'subject', d.subject));
    }
    head.appendChild(el('span', 'where', whereText(d)));
    if (d.reasons && d.reasons.length) {
      var reasons = el('span', 'reasons');
      for (var i = 0; i < d.reasons.length; i++) {
        var r = d.reasons[i] || {};
        var line = el('span', 'reason', r.detail || r.code || 'no detail');
        if (r.pointer) {
          line.appendChild(el('code', 'pointer', r.pointer));
        }
        reasons.appendChild(line);
      }
      head.appendChild(reasons);
    }
    if (warnings.length) {
      var advice = el('span', 'reasons warnings');
      for (var j = 0; j < warnings.length; j++) {
        var w = warnings[j] || {};
        var item = el('span', 'reason lint-warning', w.detail || w.code || 'no detail');
        if (w.pointer) {
          item.appendChild(el('code', 'pointer', w.pointer));
        }
        if (w.fix) {
          item.appendChild(el('span', 'fix', 'Fix: ' + w.fix));
        }
        advice.appendChild(item);
      }
      head.appendChild(advice);
    }
    details.appendChild(head);

    var body = el('div', 'entry-body');
    if (d.request) {
      var q = [];
      for (var k in d.request.query || {}) {
        if (Object.prototype.hasOwnProperty.call(d.request.query, k)) {
          q.push(encodeURIComponent(k) + '=' + encodeURIComponent(d.request.query[k]));
        }
      }
      body.appendChild(el('p', 'request-line',
        d.request.method + ' ' + (state.stubUrl || '') + d.request.path + (q.length ? '?' + q.join('&') : '') +
        '  →  ' + (d.http_status || 'no answer yet') + ' · ' + (d.request.bytes || 0) + ' bytes'));
    }
    if (d.body !== null && d.body !== undefined) {
      body.appendChild(section('Body, as Klaviyo received it (JSON:API)', pretty(d.body), true, 'json-body').box);
    }
    if (d.event_body) {
      body.appendChild(section('This event in the request', pretty(d.event_body), false).box);
    }
    if (d.call && (d.call.args || d.call.method)) {
      body.appendChild(section('What the page called (never sent)', callText(d.call), true).box);
    } else if (d.source === 'snippet' && d.call && d.call.page) {
      body.appendChild(el('p', 'request-line', 'On ' + d.call.page));
    }
    if (d.request && d.request.response && d.request.response.body) {
      body.appendChild(section('Answer', pretty(d.request.response.body), d.status === 'bad').box);
    }
    if (d.request) {
      body.appendChild(section('Headers (secrets redacted)', headerText(d.request.headers), false).box);
    }
    var profile = section('Profile, as the stand-in knows it now', profileText(d.profile_id), !!d.profile_id, 'profile');
    body.appendChild(profile.box);
    if (d.snippet) {
      body.appendChild(section('Snippet: ' + d.snippet.file, d.snippet.text, false, 'snippet').box);
    } else {
      body.appendChild(el('p', 'muted', 'No generated snippet of this plan sends this.'));
    }
    details.appendChild(body);
    li.appendChild(details);
    return { li: li, profilePre: profile.pre };
  }

  function sortKey(d) {
    return [d.time || '', d.seq || 0];
  }

  function newer(a, b) {
    var ka = sortKey(a);
    var kb = sortKey(b);
    return ka[0] > kb[0] || (ka[0] === kb[0] && ka[1] > kb[1]);
  }

  function upsert(d) {
    var old = state.entries[d.key];
    var focused = old && old.li.contains(document.activeElement);
    var made = renderEntry(d);
    state.entries[d.key] = { data: d, li: made.li, profilePre: made.profilePre };
    if (old) {
      list.replaceChild(made.li, old.li);
      if (focused) {
        made.li.querySelector('summary').focus();
      }
    } else {
      var child = list.firstChild;
      while (child) {
        var other = state.entries[child.getAttribute('data-key')];
        if (other && newer(d, other.data)) {
          break;
        }
        child = child.nextSibling;
      }
      list.insertBefore(made.li, child);
    }
    applyFilter(made.li);
  }

  function remove(key) {
    var old = state.entries[key];
    if (old) {
      list.removeChild(old.li);
      delete state.entries[key];
    }
  }

  function clearAll() {
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    state.entries = {};
    state.profiles = {};
    refresh();
  }

  // -- filters and the summary --------------------------------------------------------------
  function applyFilter(li) {
    var metric = metricFilter.value;
    var status = statusFilter.value;
    li.hidden = (metric !== '' && li.getAttribute('data-metric') !== metric) ||
      (status !== '' && li.getAttribute('data-status') !== status);
  }

  function refresh() {
    var counts = {};
    var metrics = {};
    var total = 0;
    var shown = 0;
    var linted = 0;
    for (var key in state.entries) {
      if (Object.prototype.hasOwnProperty.call(state.entries, key)) {
        var item = state.entries[key];
        total++;
        counts[item.data.status] = (counts[item.data.status] || 0) + 1;
        metrics[item.data.metric || ''] = true;
        if (item.data.warnings && item.data.warnings.length) {
          linted++;
        }
        applyFilter(item.li);
        if (!item.li.hidden) {
          shown++;
        }
      }
    }
    // The metric choices: every metric seen, the current choice kept.
    var chosen = metricFilter.value;
    var names = Object.keys(metrics).sort();
    if (chosen && names.indexOf(chosen) < 0) {
      names.push(chosen);
    }
    while (metricFilter.options.length > 1) {
      metricFilter.remove(1);
    }
    for (var i = 0; i < names.length; i++) {
      var option = el('option', null, names[i] || '(no metric)');
      option.value = names[i];
      metricFilter.appendChild(option);
    }
    metricFilter.value = chosen;

    $('empty').hidden = total > 0;
    $('none-match').hidden = !total || shown > 0;
    if (!total) {
      summary.textContent = state.notice || 'Nothing received yet.';
      return;
    }
    state.notice = '';
    var parts = [];
    for (var s = 0; s < STATUSES.length; s++) {
      if (counts[STATUSES[s]]) {
        parts.push(counts[STATUSES[s]] + ' ' + STATUSES[s]);
      }
    }
    if (linted) {
      parts.push(linted + ' with lint warnings');
    }
    summary.textContent = (shown === total ? total + ' shown' : shown + ' of ' + total + ' shown') + ' · ' +
      parts.join(' · ');
  }

  metricFilter.addEventListener('change', refresh);
  statusFilter.addEventListener('change', refresh);
  $('filters').addEventListener('submit', function (event) {
    event.preventDefault();
  });

  // -- clear, and forgetting the shopper ----------------------------------------------------
  // The storefront's frame shares this page's origin, so its cookies and storage (shopper.js).
  var forgetShopper = window.klaviyoPreviewShopper.forget;

  function reloadShop() {
    try {
      shop.contentWindow.location.reload();
    } catch (e) {
      shop.src = shop.src;
    }
  }

  $('clear').addEventListener('click', function () {
    if (!state.stubUrl) {
      summary.textContent = 'Not connected to the preview yet.';
      return;
    }
    var forget = $('forget').checked;
    // The preview resets its stand-in: it forgets requests, events and profiles.
    window.fetch('/api/clear', { method: 'POST' }).then(function (answer) {
      if (!answer.ok) {
        throw new Error('the stand-in answered ' + answer.status);
      }
      if (forget) {
        forgetShopper();
        reloadShop();
      }
      state.notice = forget ? 'Cleared, and the shopper is signed out.' : 'Cleared.';
      clearAll();
    }).catch(function (error) {
      summary.textContent = 'Could not clear: ' + error.message;
    });
  });

  // -- the plan -------------------------------------------------------------------------------
  function showPlan(plan) {
    $('plan-name').textContent = plan.name + (plan.version ? ' (version ' + plan.version + ')' : '');
    $('plan-name').title = plan.path;
    $('public-key').textContent = plan.public_key || '–';
    var box = $('plan-error');
    if (plan.error) {
      $('plan-error-text').textContent = plan.error;
      box.hidden = false;
    } else {
      box.hidden = true;
      $('plan-error-text').textContent = '';
    }
    if (state.planVersion !== null && plan.version !== state.planVersion && plan.version) {
      reloadShop();
      $('plan-reloaded').textContent = 'Reloaded: plan version ' + plan.version;
    }
    state.planVersion = plan.version;
  }

  // -- the stream -----------------------------------------------------------------------------
  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (e) {
      return null;
    }
  }

  var connection = $('connection');
  var source = new window.EventSource('/api/stream');
  var downSince = null;
  source.addEventListener('open', function () {
    downSince = null;
    connection.textContent = 'live';
    connection.className = 'connection live';
    connection.title = '';
  });
  source.addEventListener('error', function () {
    // The browser retries by itself; after a few seconds, say what the user can do.
    downSince = downSince || Date.now();
    var long = Date.now() - downSince > 5000;
    connection.textContent = long ? 'preview stopped? restart it' : 'reconnecting…';
    connection.title = long ? 'No answer from the preview server: is `klaviyo-snippets preview` still running? ' +
      'Start it again; this page reconnects by itself.' : '';
    connection.className = 'connection down';
  });
  source.addEventListener('hello', function (event) {
    var data = parse(event);
    if (!data) {
      return;
    }
    state.stubUrl = data.stand_in;
    $('stub-url').textContent = data.stand_in;
    clearAll(); // a (re)connection sends everything again
    showPlan(data.plan);
  });
  source.addEventListener('plan', function (event) {
    var plan = parse(event);
    if (plan) {
      showPlan(plan);
    }
  });
  source.addEventListener('reset', function () {
    clearAll();
  });
  source.addEventListener('entries', function (event) {
    var data = parse(event);
    if (!data) {
      return;
    }
    var id;
    for (id in data.profiles || {}) {
      if (Object.prototype.hasOwnProperty.call(data.profiles, id)) {
        state.profiles[id] = data.profiles[id];
      }
    }
    var i;
    for (i = 0; i < (data.remove || []).length; i++) {
      remove(data.remove[i]);
    }
    // Oldest first, so each lands on top of the ones before it.
    var upserts = (data.upsert || []).slice().reverse();
    for (i = 0; i < upserts.length; i++) {
      upsert(upserts[i]);
    }
    // Profiles change after the entries that first showed them: refresh every view of them.
    for (var key in state.entries) {
      if (Object.prototype.hasOwnProperty.call(state.entries, key)) {
        var item = state.entries[key];
        if (item.data.profile_id && data.profiles && data.profiles[item.data.profile_id]) {
          item.profilePre.textContent = profileText(item.data.profile_id);
        }
      }
    }
    refresh();
  });
})(window, document);
