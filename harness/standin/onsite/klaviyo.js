/*
 * klaviyo-snippets: stand-in for Klaviyo's onsite script (klaviyo.js).
 *
 * Written from documented facts (docs/ and the project's wire-facts page), not copied from
 * Klaviyo. It behaves on the wire like https://static.klaviyo.com/onsite/js/<KEY>/klaviyo.js,
 * so a page that loads the production script URL behaves the same against the stand-in server.
 * Read it as documentation of Klaviyo's behaviour as much as code: each rule says where it
 * comes from; "[inferred]" marks a reading that no source confirms (see README.md beside this
 * file).
 *
 * What it is not: it does not render sign-up forms, reviews or anything visual; openForm is a
 * no-op. On top of Klaviyo's behaviour it reports "diagnostics" to the stand-in whenever the
 * real script would silently do nothing (an anonymous track, a robot user agent, ...).
 *
 * Plain ES5 on purpose: it must run in old browsers, like the real one.
 */
(function (window, document) {
  'use strict';

  var VERSION = '0.1.0';

  // ---------------------------------------------------------------------------------------
  // Configuration. The stand-in server replaces the token below with a JSON object when it
  // serves this file at /onsite/js/{company_id}/klaviyo.js. Served raw (token not replaced),
  // the file still runs with the defaults and the company id read from its own URL.
  // ---------------------------------------------------------------------------------------
  var SERVED_CONFIG = (function () {
    try {
      return __KLAVIYO_STUB_CONFIG__;
    } catch (e) {
      return null;
    }
  })();

  var DEFAULTS = {
    companyId: null,
    apiBase: null, // null: location.protocol + '//a.klaviyo.com', like the real script
    diagnosticsUrl: null, // null: apiBase + '/__stub__/diagnostics'
    identifyDebounceMs: 300,
    retryDelayMs: [1000, 2000],
    maxRetries: 5,
    backfillAnonymous: false
  };

  var has = Object.prototype.hasOwnProperty;
  var isArray = Array.isArray || function (v) {
    return Object.prototype.toString.call(v) === '[object Array]';
  };

  var CONFIG = extend(extend({}, DEFAULTS), SERVED_CONFIG || {});
  var SCRIPT_SRC = currentScriptSrc();
  // The account: the served config, else the key in the script URL ([onsite] account()
  // "falls back to the key in the script URL").
  CONFIG.companyId = CONFIG.companyId || companyIdFromUrl(SCRIPT_SRC) || null;

  var PAGE_PROTOCOL = /^https?:$/.test(window.location.protocol) ? window.location.protocol : 'https:';
  var API_BASE = stripSlash(CONFIG.apiBase || PAGE_PROTOCOL + '//a.klaviyo.com');
  var DIAGNOSTICS_URL = CONFIG.diagnosticsUrl || API_BASE + '/__stub__/diagnostics';

  // Revisions the production script sends, per endpoint [onsite].
  var REVISION_EVENTS = '2026-07-15';
  var REVISION_PROFILES = '2024-10-15';
  var REVISION_BULK = '2025-01-15';

  var COOKIE_ID = '__kla_id';
  var COOKIE_OFF = '__kla_off';
  var COOKIE_DAYS = 730;
  var SESSION_KX = '_kx';
  var VIEWED_KEY = '__kla_viewed';
  var VIEWED_MAX = 20;
  var VIEWED_MAX_AGE_S = 30 * 86400;
  var BACKFILL_KEY = 'kl-post-identification-sync';
  var BACKFILL_MAX_AGE_MS = 14 * 86400 * 1000;
  var BACKFILL_BATCH = 1000; // /client/event-bulk-create takes at most 1000 events [spec]
  var KEEPALIVE_MAX = 60000; // characters; browsers allow 64 KiB of keepalive bodies in flight
  var METRIC_NAME_MAX = 128; // a metric name must be shorter than 128 characters [spec]
  var EXCHANGE_ID_RE = /^([\w\-_=]+)\.(\w+)$/; // <token>.<company id> [onsite]

  // User agents the real script treats as robots: tracking is off for them [onsite]. The
  // first seven are documented; the crawler tokens after them are [inferred] "common crawlers".
  var ROBOT_TOKENS = [
    'HeadlessChrome', 'PhantomJS', 'Chrome-Lighthouse', 'python-requests', 'aiohttp', 'axios',
    'curl', 'Googlebot', 'AdsBot-Google', 'Mediapartners-Google', 'Google-InspectionTool',
    'bingbot', 'BingPreview', 'Slurp', 'DuckDuckBot', 'Baiduspider', 'YandexBot', 'Sogou',
    'Exabot', 'facebookexternalhit', 'Facebot', 'Twitterbot', 'LinkedInBot', 'Pinterestbot',
    'Applebot', 'AhrefsBot', 'SemrushBot', 'MJ12bot', 'DotBot', 'PetalBot', 'Bytespider',
    'GPTBot', 'CCBot', 'ia_archiver', 'Pingdom', 'GTmetrix', 'UptimeRobot', 'Prerender',
    'Screaming Frog', 'Wget', 'Go-http-client', 'okhttp', 'node-fetch'
  ];

  // The methods of the klaviyo object (docs: "Supported Methods").
  var METHOD_NAMES = ['identify', 'track', 'trackViewedItem', 'account', 'cookieDomain',
    'isIdentified', 'openForm'];
  // Drained first, in queue order, before everything else [onsite].
  var PRIORITY = { account: true, cookieDomain: true, identify: true };

  // ---------------------------------------------------------------------------------------
  // Work still to do (ours, not Klaviyo's: the real script has nothing like it). Every request
  // not yet answered (diagnostics included), every 429 retry and identify debounce not yet
  // fired is open work; window.__klaviyoStub.idle() resolves once there is none, so a test can
  // assert that something did NOT arrive without guessing a sleep. A second load on the page
  // shares the first load's registry, so its report counts too.
  // ---------------------------------------------------------------------------------------
  var previous = window.__klaviyoStub;
  var work = previous && previous._work ? previous._work : newWork();

  function newWork() {
    var open = {}; // id -> what it is, e.g. "POST /client/events/"
    var lastId = 0;
    var waiters = [];
    var checking = false;

    function pending() {
      var out = [];
      for (var id in open) {
        if (has.call(open, id)) {
          out.push(open[id]);
        }
      }
      return out;
    }

    // Decide in a later task, so that what finished work starts (its callbacks, the page's
    // promise reactions, a follow-up request) is open before we look.
    function check() {
      if (checking || !waiters.length) {
        return;
      }
      checking = true;
      setTimeout(function () {
        checking = false;
        if (pending().length) {
          return; // end() checks again
        }
        var ready = waiters;
        waiters = [];
        for (var i = 0; i < ready.length; i++) {
          ready[i]();
        }
      }, 0);
    }

    return {
      begin: function (what) {
        lastId += 1;
        open[lastId] = what;
        return lastId;
      },
      end: function (id) {
        if (has.call(open, id)) {
          delete open[id];
          check();
        }
      },
      pending: pending,
      // A Promise (or the callback) settled once nothing is left to send.
      idle: function (callback) {
        var promise = null;
        if (typeof window.Promise === 'function') {
          promise = new window.Promise(function (resolve) {
            waiters.push(resolve);
          });
        }
        if (typeof callback === 'function') {
          waiters.push(callback);
        }
        check();
        return promise;
      }
    };
  }

  // ---------------------------------------------------------------------------------------
  // One script per page. A second load of the same account does nothing; a second account
  // is refused, as the real script refuses it [onsite], and reported.
  // ---------------------------------------------------------------------------------------
  if (previous && previous.config) {
    if (previous.config.companyId !== CONFIG.companyId) {
      diagnose('second_account', null, null,
        'A second Klaviyo account (' + CONFIG.companyId + ') tried to load on a page that already ' +
        'runs account ' + previous.config.companyId + '; Klaviyo\'s onsite script refuses it, so ' +
        'nothing is sent to ' + CONFIG.companyId + '. Load klaviyo.js for one account per page.',
        [CONFIG.companyId]);
    }
    return;
  }
  window.__klaviyoStub = {
    version: VERSION,
    config: extend({}, CONFIG, { apiBase: API_BASE, diagnosticsUrl: DIAGNOSTICS_URL, scriptSrc: SCRIPT_SRC }),
    idle: work.idle, // Promise: nothing left to send (see "Work still to do" above)
    pending: work.pending, // what is still open, e.g. ["POST /client/events/", "identify debounce"]
    _work: work // shared with a second load on this page
  };

  // ---------------------------------------------------------------------------------------
  // State of this page.
  // ---------------------------------------------------------------------------------------
  var state = {
    account: CONFIG.companyId,
    cookieDomain: null,
    cookie: {}, // the decoded __kla_id cookie
    known: {}, // identify properties already sent (or pending) on this page, legacy keys
    off: trackingOff(), // null, or why tracking is off
    offReported: false,
    pendingIdentify: null, // the identify debounce window: {props, waiters, timer}
    inflightIdentify: null // the window whose request awaits its answer
  };
  // Everything else runs from load() at the bottom, once every table below is defined.

  // ---------------------------------------------------------------------------------------
  // Small helpers.
  // ---------------------------------------------------------------------------------------
  function noop() {}

  function extend(target) {
    for (var i = 1; i < arguments.length; i++) {
      var source = arguments[i];
      if (source) {
        for (var key in source) {
          if (has.call(source, key)) {
            target[key] = source[key];
          }
        }
      }
    }
    return target;
  }

  function isObject(v) {
    return v !== null && typeof v === 'object' && !isArray(v);
  }

  function isEmpty(o) {
    for (var key in o) {
      if (has.call(o, key)) {
        return false;
      }
    }
    return true;
  }

  function toArray(args) {
    return Array.prototype.slice.call(args);
  }

  function stripSlash(url) {
    return String(url).replace(/\/+$/, '');
  }

  function nowSeconds() {
    return Math.floor(new Date().getTime() / 1000);
  }

  function json(v) {
    try {
      return JSON.stringify(v);
    } catch (e) {
      return String(v);
    }
  }

  // Run a page's function without letting its error break our queue; the error still shows
  // up in the console as an uncaught error.
  function callSafely(fn, args) {
    try {
      return fn.apply(undefined, args || []);
    } catch (e) {
      setTimeout(function () {
        throw e;
      }, 0);
    }
  }

  function currentScriptSrc() {
    if (document.currentScript && document.currentScript.src) {
      return document.currentScript.src;
    }
    var scripts = document.getElementsByTagName('script');
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/\/klaviyo\.js(\?|$)/.test(scripts[i].src || '')) {
        return scripts[i].src;
      }
    }
    return '';
  }

  // .../onsite/js/<KEY>/klaviyo.js, or the older .../onsite/js/klaviyo.js?company_id=<KEY> [docs]
  function companyIdFromUrl(src) {
    var m = /\/onsite\/js\/([^\/?#]+)\/klaviyo\.js/.exec(src || '') ||
      /[?&]company_id=([^&#]+)/.exec(src || '');
    return m ? decodeURIComponent(m[1]) : null;
  }

  function queryParams() {
    var out = {};
    var query = window.location.search.replace(/^\?/, '');
    if (!query) {
      return out;
    }
    var pairs = query.split('&');
    for (var i = 0; i < pairs.length; i++) {
      var eq = pairs[i].indexOf('=');
      var key = eq < 0 ? pairs[i] : pairs[i].slice(0, eq);
      var value = eq < 0 ? '' : pairs[i].slice(eq + 1);
      try {
        key = decodeURIComponent(key.replace(/\+/g, ' '));
        value = decodeURIComponent(value.replace(/\+/g, ' '));
      } catch (e) {
        continue;
      }
      if (!has.call(out, key)) {
        out[key] = value;
      }
    }
    return out;
  }

  // Base64 of UTF-8 text (the cookie is base64 of JSON) [onsite].
  function b64encode(text) {
    return window.btoa(unescape(encodeURIComponent(text)));
  }

  function b64decode(text) {
    var s = String(text).replace(/-/g, '+').replace(/_/g, '/').replace(/\s/g, '');
    while (s.length % 4) {
      s += '=';
    }
    return decodeURIComponent(escape(window.atob(s)));
  }

  function uuid() {
    var bytes = [];
    var i;
    if (window.crypto && window.crypto.getRandomValues) {
      var buf = new Uint8Array(16);
      window.crypto.getRandomValues(buf);
      for (i = 0; i < 16; i++) {
        bytes.push(buf[i]);
      }
    } else {
      for (i = 0; i < 16; i++) {
        bytes.push(Math.floor(Math.random() * 256));
      }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = '';
    for (i = 0; i < 16; i++) {
      hex += (bytes[i] + 0x100).toString(16).slice(1);
      if (i === 3 || i === 5 || i === 7 || i === 9) {
        hex += '-';
      }
    }
    return hex;
  }

  function storage(kind) {
    try {
      var s = window[kind];
      return s || null;
    } catch (e) {
      return null; // storage can throw when cookies are blocked
    }
  }

  function storageGet(kind, key) {
    var s = storage(kind);
    try {
      return s ? s.getItem(key) : null;
    } catch (e) {
      return null;
    }
  }

  function storageSet(kind, key, value) {
    var s = storage(kind);
    try {
      if (s) {
        if (value === null) {
          s.removeItem(key);
        } else {
          s.setItem(key, value);
        }
      }
    } catch (e) {
      // full or blocked: the real script also carries on without storage
    }
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split(';') : [];
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i].replace(/^\s+/, '');
      if (part.indexOf(name + '=') === 0) {
        return part.slice(name.length + 1);
      }
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------
  // Diagnostics (ours, not Klaviyo's): the stand-in records them so the harness can say why
  // something never reached Klaviyo. text/plain, so the browser sends no CORS preflight.
  // ---------------------------------------------------------------------------------------
  function diagnose(type, method, metric, reason, args) {
    var body = json({
      type: type,
      method: method,
      metric: metric === undefined ? null : metric,
      reason: reason,
      args: jsonSafe(args || [], 0, []),
      page: window.location.href,
      company_id: (state && state.account) || CONFIG.companyId,
      time: new Date().toISOString()
    });
    var url = DIAGNOSTICS_URL + (DIAGNOSTICS_URL.indexOf('?') < 0 ? '?' : '&') +
      'company_id=' + encodeURIComponent((state && state.account) || CONFIG.companyId || '');
    if (window.console && console.debug) {
      console.debug('[klaviyo stand-in] ' + type + ': ' + reason);
    }
    var id = work.begin('POST ' + DIAGNOSTICS_URL.replace(/^[a-z]+:\/\/[^\/]+/, '') + ' (' + type + ')');
    function sent() {
      work.end(id);
    }
    // fetch with keepalive outlives a navigation, as a beacon would, and says when it is
    // answered (a beacon does not). Past keepalive's 64 KiB, or where it fails, XHR.
    if (typeof window.fetch === 'function' && body.length < KEEPALIVE_MAX) {
      try {
        window.fetch(url, {
          method: 'POST', body: body, keepalive: true,
          headers: { 'Content-Type': 'text/plain;charset=UTF-8' }
        }).then(sent, function () {
          diagnoseByXhr(url, body, sent);
        });
        return;
      } catch (e) {
        // fall through to XHR
      }
    }
    diagnoseByXhr(url, body, sent);
  }

  function diagnoseByXhr(url, body, sent) {
    try {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', url, true);
      xhr.setRequestHeader('Content-Type', 'text/plain;charset=UTF-8');
      xhr.onreadystatechange = function () {
        if (xhr.readyState === 4) {
          sent();
        }
      };
      xhr.send(body);
    } catch (e) {
      sent(); // nowhere to report to
    }
  }

  // A JSON-safe copy of a page's arguments: functions become "[function]", cycles
  // "[circular]", elements "[element]", NaN and Infinity their string.
  function jsonSafe(v, depth, seen) {
    if (typeof v === 'function') {
      return '[function]';
    }
    if (v === undefined || v === null) {
      return null;
    }
    if (typeof v === 'number') {
      return isFinite(v) ? v : String(v);
    }
    if (typeof v === 'string' || typeof v === 'boolean') {
      return v;
    }
    if (typeof v !== 'object') {
      return String(v); // symbol, bigint
    }
    if (v instanceof Date) {
      return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    }
    if (typeof v.nodeType === 'number' || v === window) {
      return '[element]';
    }
    if (depth > 10) {
      return '[too deep]';
    }
    for (var s = 0; s < seen.length; s++) {
      if (seen[s] === v) {
        return '[circular]';
      }
    }
    seen.push(v);
    var out;
    if (isArray(v)) {
      out = [];
      for (var i = 0; i < v.length; i++) {
        out.push(jsonSafe(v[i], depth + 1, seen));
      }
    } else {
      out = {};
      for (var key in v) {
        if (has.call(v, key)) {
          out[key] = jsonSafe(v[key], depth + 1, seen);
        }
      }
    }
    seen.pop();
    return out;
  }

  function callText(method, args) {
    var shown = jsonSafe(args || [], 0, []);
    var text = json(shown);
    return 'klaviyo.' + method + '(' + text.slice(1, -1) + ')';
  }

  // ---------------------------------------------------------------------------------------
  // Robots and opt-out [onsite][docs]: tracking is off for a robot user agent or the cookie
  // __kla_off=true. "Off" here means: everything runs, but no request reaches Klaviyo.
  // ---------------------------------------------------------------------------------------
  function trackingOff() {
    var ua = String((window.navigator && window.navigator.userAgent) || '');
    var lower = ua.toLowerCase();
    for (var i = 0; i < ROBOT_TOKENS.length; i++) {
      if (lower.indexOf(ROBOT_TOKENS[i].toLowerCase()) >= 0) {
        return {
          key: 'robot',
          reason: 'Tracking is off on this page: the user agent contains "' + ROBOT_TOKENS[i] +
            '", which Klaviyo\'s onsite script treats as a robot, so it sends nothing to Klaviyo ' +
            '(and no identify, event or Active on Site reaches the stand-in). Give the browser a ' +
            'normal desktop user agent (Playwright: new_context(user_agent="Mozilla/5.0 ... ' +
            'Chrome/... Safari/537.36")); default headless Chromium says HeadlessChrome. ' +
            'User agent: ' + ua
        };
      }
    }
    if (readCookie(COOKIE_OFF) === 'true') {
      return {
        key: 'cookie',
        reason: 'Tracking is off on this page: the cookie __kla_off=true (the visitor opted out ' +
          'of Klaviyo tracking) is set, so Klaviyo\'s onsite script sends nothing to Klaviyo. ' +
          'Delete the __kla_off cookie to track this browser.'
      };
    }
    return null;
  }

  function reportTrackingOff() {
    if (!state.offReported) {
      state.offReported = true;
      diagnose('tracking_off', null, null, state.off.reason, []);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Requests to Klaviyo [onsite]: XMLHttpRequest with custom headers (so the browser sends a
  // CORS preflight), retried up to maxRetries times on 429 only, 1-2 s apart, Retry-After
  // ignored. done(status, responseText) is called once; status 0 means "not sent / no answer".
  // ---------------------------------------------------------------------------------------
  function post(path, revision, body, callback) {
    var id = work.begin('POST ' + path);
    // Open until its callback has run, so what the callback sends next is counted first.
    function done(status, text) {
      try {
        (callback || noop)(status, text);
      } finally {
        work.end(id);
      }
    }
    if (state.off) {
      reportTrackingOff();
      setTimeout(function () {
        done(0, '');
      }, 0);
      return;
    }
    var url = API_BASE + path + '?company_id=' + encodeURIComponent(state.account || '');
    var payload = json(body);
    var retries = 0;
    var maxRetries = Number(CONFIG.maxRetries) || 0;

    function send() {
      var xhr = new XMLHttpRequest();
      var finished = false;
      function finish(status, text) {
        if (!finished) {
          finished = true;
          done(status, text);
        }
      }
      try {
        xhr.open('POST', url, true);
        xhr.setRequestHeader('Content-Type', 'application/json');
        xhr.setRequestHeader('X-Klaviyo-Onsite', '1');
        xhr.setRequestHeader('X-Klaviyo-Js-Url', SCRIPT_SRC);
        xhr.setRequestHeader('revision', revision);
        xhr.setRequestHeader('accept', 'application/json');
        xhr.onreadystatechange = function () {
          if (xhr.readyState !== 4 || finished) {
            return;
          }
          if (xhr.status === 429 && retries < maxRetries) {
            retries++;
            finished = true;
            setTimeout(send, retryDelay());
            return;
          }
          finish(xhr.status, xhr.responseText);
        };
        xhr.send(payload);
      } catch (e) {
        finish(0, '');
      }
    }
    send();
  }

  function retryDelay() {
    var range = isArray(CONFIG.retryDelayMs) ? CONFIG.retryDelayMs : [CONFIG.retryDelayMs, CONFIG.retryDelayMs];
    var low = Number(range[0]) || 0;
    var high = Number(range.length > 1 ? range[1] : range[0]) || low;
    return low + Math.random() * Math.max(0, high - low);
  }

  // ---------------------------------------------------------------------------------------
  // Identity [onsite]: cookie __kla_id = base64(JSON) with `cid` (base64 of a random UUID)
  // and, once identified, `$exchange_id` (<token>.<KEY>), also kept in sessionStorage _kx.
  // While an identify answer is pending the cookie holds the identifiers just given
  // ($email, $phone_number; $id and $kid too [inferred]); the answer strips them.
  // ---------------------------------------------------------------------------------------
  var PENDING_KEYS = ['$email', '$phone_number', '$id', '$kid'];

  function loadIdentity() {
    var data = null;
    var raw = readCookie(COOKIE_ID);
    if (raw) {
      try {
        data = JSON.parse(b64decode(decodeURIComponent(raw)));
      } catch (e) {
        data = null;
      }
    }
    if (!isObject(data)) {
      data = {};
    }
    if (!data.cid) {
      data = extend({ cid: b64encode(uuid()) }, data);
    }
    if (!data.$exchange_id) {
      // [inferred] the session copy restores an exchange id the cookie lost.
      var kx = storageGet('sessionStorage', SESSION_KX);
      if (kx && exchangeCompany(kx) === state.account) {
        data.$exchange_id = kx;
      }
    }
    state.cookie = data;
    for (var i = 0; i < PENDING_KEYS.length; i++) {
      if (data[PENDING_KEYS[i]]) {
        state.known[PENDING_KEYS[i]] = data[PENDING_KEYS[i]];
      }
    }
    checkExchangeCompany();
    saveIdentity();
  }

  function saveIdentity() {
    var cookie = COOKIE_ID + '=' + b64encode(json(state.cookie)) + '; path=/; expires=' +
      new Date(new Date().getTime() + COOKIE_DAYS * 86400 * 1000).toUTCString();
    if (state.cookieDomain) {
      // One cookie, for the domain: a host-only __kla_id written before the domain was known
      // (on load, before the queued cookieDomain call) would shadow it on the next page.
      document.cookie = COOKIE_ID + '=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT';
      cookie += '; domain=' + state.cookieDomain;
    }
    document.cookie = cookie;
  }

  function exchangeCompany(exchangeId) {
    var m = EXCHANGE_ID_RE.exec(String(exchangeId || ''));
    return m ? m[2] : null;
  }

  // An exchange id of another company clears the identity [onsite].
  function checkExchangeCompany() {
    var x = state.cookie.$exchange_id;
    if (x && exchangeCompany(x) !== state.account) {
      clearIdentity();
    }
  }

  function clearIdentity() {
    delete state.cookie.$exchange_id;
    for (var i = 0; i < PENDING_KEYS.length; i++) {
      delete state.cookie[PENDING_KEYS[i]];
    }
    state.known = {};
    storageSet('sessionStorage', SESSION_KX, null);
    saveIdentity();
  }

  function storeExchangeId(exchangeId) {
    state.cookie.$exchange_id = exchangeId;
    storageSet('sessionStorage', SESSION_KX, exchangeId);
    saveIdentity();
  }

  function pendingIdentifiers() {
    var out = {};
    for (var i = 0; i < PENDING_KEYS.length; i++) {
      if (state.cookie[PENDING_KEYS[i]]) {
        out[PENDING_KEYS[i]] = state.cookie[PENDING_KEYS[i]];
      }
    }
    return out;
  }

  // [inferred] a visitor with an identify answer still pending counts as identified: its
  // events carry the email (wire facts: "or email while the identify answer is pending").
  function isIdentified() {
    return !!state.cookie.$exchange_id || !isEmpty(pendingIdentifiers());
  }

  // What identify resolves with [inferred]: the profile properties given on this page,
  // merged, plus the exchange id once known.
  function identityObject() {
    var out = extend({}, state.known);
    delete out.$viewed_items; // trackViewedItem's list, not something the page identified with
    if (state.cookie.$exchange_id) {
      out.$exchange_id = state.cookie.$exchange_id;
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Profile mapping [onsite]: identify's legacy keys -> OnsiteProfileCreateQuery attributes.
  // Everything not listed goes to attributes.properties, unprefixed first_name included
  // (per the code; the docs call it special, the server may map it).
  // ---------------------------------------------------------------------------------------
  var PROFILE_KEYS = {
    $email: 'email', email: 'email',
    $phone_number: 'phone_number', phone_number: 'phone_number',
    $id: 'external_id',
    $anonymous: 'anonymous_id',
    $exchange_id: '_kx', // [inferred] an exchange id passed to identify is the _kx identifier
    $first_name: 'first_name', $last_name: 'last_name', $organization: 'organization',
    $title: 'title', $image: 'image', $locale: 'locale'
  };
  var LOCATION_KEYS = {
    $address1: 'address1', $address2: 'address2', $city: 'city', $country: 'country',
    $region: 'region', $zip: 'zip', $timezone: 'timezone'
  };
  var PATCH_KEYS = { $append: 'append', $unappend: 'unappend', $unset: 'unset' };
  // Attribute order of the schema, so bodies read like Klaviyo's.
  var ATTRIBUTE_ORDER = ['email', 'phone_number', 'external_id', 'anonymous_id', '_kx',
    'first_name', 'last_name', 'organization', 'locale', 'title', 'image'];
  var IDENTIFIER_KEYS = ['$email', 'email', '$phone_number', 'phone_number', '$id', '$kid',
    '$exchange_id'];

  function hasIdentifier(props) {
    for (var i = 0; i < IDENTIFIER_KEYS.length; i++) {
      var v = props[IDENTIFIER_KEYS[i]];
      if (v !== undefined && v !== null && v !== '') {
        return true;
      }
    }
    return false;
  }

  // -> {id, attributes, meta} of a profile resource object.
  function mapProfile(props) {
    var mapped = {};
    var location = {};
    var properties = {};
    var patch = {};
    var id;
    var key;
    for (key in props) {
      if (!has.call(props, key) || props[key] === undefined) {
        continue;
      }
      var value = props[key];
      if (key === '$kid') {
        id = value;
      } else if (has.call(PROFILE_KEYS, key)) {
        // "$email" wins over "email" when both are given.
        if (key.charAt(0) === '$' || !has.call(mapped, PROFILE_KEYS[key])) {
          mapped[PROFILE_KEYS[key]] = value;
        }
      } else if (has.call(LOCATION_KEYS, key)) {
        location[LOCATION_KEYS[key]] = value;
      } else if (has.call(PATCH_KEYS, key)) {
        patch[PATCH_KEYS[key]] = value;
      } else {
        properties[key] = value;
      }
    }
    var attributes = {};
    for (var i = 0; i < ATTRIBUTE_ORDER.length; i++) {
      if (has.call(mapped, ATTRIBUTE_ORDER[i])) {
        attributes[ATTRIBUTE_ORDER[i]] = mapped[ATTRIBUTE_ORDER[i]];
      }
    }
    if (!isEmpty(location)) {
      attributes.location = location;
    }
    if (!isEmpty(properties)) {
      attributes.properties = properties;
    }
    return {
      id: id,
      attributes: attributes,
      meta: isEmpty(patch) ? null : { patch_properties: patch }
    };
  }

  // The profile inside an event: the exchange id for a visitor identified earlier, or the
  // identifiers while the identify answer is pending [onsite].
  function eventProfile() {
    var pending = pendingIdentifiers();
    var data = { type: 'profile' };
    if (!isEmpty(pending)) {
      var mapped = mapProfile(pending);
      if (mapped.id !== undefined) {
        data.id = mapped.id;
      }
      data.attributes = mapped.attributes;
    } else {
      var x = state.cookie.$exchange_id;
      data.attributes = { _kx: x, properties: { $exchange_id: x } };
    }
    return { data: data };
  }

  // ---------------------------------------------------------------------------------------
  // identify [onsite]: sends only when an account is set, the identity changed, and there is
  // an identifier (email, phone, $id, $kid, exchange id). Debounced, attributes merged.
  // ---------------------------------------------------------------------------------------
  function sameValue(a, b) {
    return a === b || json(a) === json(b);
  }

  // Merge one identify call into the debounce window.
  function mergeProps(into, props) {
    for (var key in props) {
      if (!has.call(props, key) || props[key] === undefined) {
        continue;
      }
      var value = props[key];
      if ((key === '$append' || key === '$unappend') && isObject(into[key]) && isObject(value)) {
        into[key] = extend({}, into[key], value);
      } else if (key === '$unset' && into[key] !== undefined) {
        into[key] = [].concat(into[key], value);
      } else {
        into[key] = value;
      }
    }
  }

  function changedProps(props) {
    for (var key in props) {
      if (!has.call(props, key) || props[key] === undefined) {
        continue;
      }
      if (has.call(PATCH_KEYS, key)) {
        return true; // list patches are operations: each one is news
      }
      if (!has.call(state.known, key) || !sameValue(state.known[key], props[key])) {
        return true;
      }
    }
    return false;
  }

  // Queue profile properties for /client/profiles/. done(identityObject) is called after the
  // answer, or at once when nothing needs sending. `method` and `args` are for diagnostics.
  function queueIdentify(props, method, args, done) {
    if (!state.account) {
      diagnose('dropped', method, null,
        'Nothing was sent: no Klaviyo account is set on this page. Load klaviyo.js with your ' +
        'public key (/onsite/js/<KEY>/klaviyo.js) or call klaviyo.account("<KEY>") first.', args);
      done(identityObject());
      return;
    }
    if (!hasIdentifier(props) && !isIdentified()) {
      diagnose('dropped', method, null,
        'Nothing was sent: ' + callText(method, args) + ' carries no identifier (email, ' +
        'phone_number, $id, $kid or an exchange id) and the visitor is anonymous, so Klaviyo\'s ' +
        'onsite script has no profile to update. Include an email or phone number, e.g. ' +
        'klaviyo.identify({email: "..."}).', args);
      done(identityObject());
      return;
    }
    if (!changedProps(props)) {
      // Nothing new: nothing to send. A call that repeats one still waiting for its answer
      // resolves with that answer; otherwise at once.
      var waiting = state.pendingIdentify || state.inflightIdentify;
      if (waiting) {
        waiting.waiters.push(done);
      } else {
        done(identityObject());
      }
      return;
    }
    // Remember the new identifiers at once: events tracked before the answer carry them.
    var pendingChanged = false;
    var identifiers = {
      $email: props.$email !== undefined ? props.$email : props.email,
      $phone_number: props.$phone_number !== undefined ? props.$phone_number : props.phone_number,
      $id: props.$id,
      $kid: props.$kid
    };
    for (var key in identifiers) {
      if (identifiers[key] !== undefined && identifiers[key] !== null && identifiers[key] !== '') {
        state.cookie[key] = identifiers[key];
        pendingChanged = true;
      }
    }
    if (pendingChanged) {
      saveIdentity();
    }
    mergeProps(state.known, props);
    for (var pk in PATCH_KEYS) {
      delete state.known[pk];
    }

    var window_ = state.pendingIdentify;
    if (!window_) {
      window_ = state.pendingIdentify = { props: {}, waiters: [], timer: null, work: work.begin('identify debounce') };
    }
    mergeProps(window_.props, props);
    window_.waiters.push(done);
    if (window_.timer) {
      clearTimeout(window_.timer);
    }
    window_.timer = setTimeout(sendIdentify, Math.max(0, Number(CONFIG.identifyDebounceMs) || 0));
  }

  function sendIdentify() {
    var window_ = state.pendingIdentify;
    state.pendingIdentify = null;
    if (!window_) {
      return;
    }
    state.inflightIdentify = window_;
    var props = extend({}, window_.props);
    if (!hasIdentifier(props)) {
      extend(props, pendingIdentifiers()); // a later call that only adds properties
    }
    var sent = pendingIdentifiers();
    var mapped = mapProfile(props);
    var data = { type: 'profile' };
    if (mapped.id !== undefined) {
      data.id = mapped.id;
    }
    if (state.cookie.$exchange_id && !has.call(mapped.attributes, '_kx')) {
      mapped.attributes = withKx(mapped.attributes, state.cookie.$exchange_id);
    }
    data.attributes = mapped.attributes;
    if (mapped.meta) {
      data.meta = mapped.meta;
    }
    post('/client/profiles/', REVISION_PROFILES, { data: data }, function (status, text) {
      if (state.inflightIdentify === window_) {
        state.inflightIdentify = null;
      }
      var gotExchangeId = handleProfileAnswer(text, sent);
      // Deliberate: resolve on any answer (even without a JSON body) so nothing on the page
      // waits forever on the stand-in; the real script waits for the exchange id.
      var result = identityObject();
      for (var i = 0; i < window_.waiters.length; i++) {
        window_.waiters[i](result);
      }
      if (gotExchangeId) {
        flushBackfill();
      }
    });
    work.end(window_.work); // the request is open work of its own now
  }

  // Put _kx in its schema place (after anonymous_id).
  function withKx(attributes, exchangeId) {
    var out = {};
    var placed = false;
    for (var i = 0; i < ATTRIBUTE_ORDER.length; i++) {
      var key = ATTRIBUTE_ORDER[i];
      if (key === '_kx') {
        out._kx = exchangeId;
        placed = true;
      } else if (has.call(attributes, key)) {
        out[key] = attributes[key];
      }
    }
    if (!placed) {
      out._kx = exchangeId;
    }
    for (var k in attributes) {
      if (has.call(attributes, k) && !has.call(out, k)) {
        out[k] = attributes[k];
      }
    }
    return out;
  }

  // {"meta":{"exchange_id":"<token>.<KEY>","should_clear_cookie":false}} [onsite]
  function handleProfileAnswer(text, sent) {
    var answer = null;
    try {
      answer = text ? JSON.parse(text) : null;
    } catch (e) {
      answer = null;
    }
    var meta = answer && isObject(answer.meta) ? answer.meta : null;
    if (!meta) {
      return false;
    }
    if (meta.should_clear_cookie === true) {
      clearIdentity();
      return false;
    }
    var x = meta.exchange_id;
    if (typeof x !== 'string' || exchangeCompany(x) !== state.account) {
      return false;
    }
    // Strip the identifiers this request carried; keep any newer ones still pending.
    for (var key in sent) {
      if (has.call(sent, key) && state.cookie[key] === sent[key]) {
        delete state.cookie[key];
      }
    }
    storeExchangeId(x);
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // track [onsite]: identified visitors only; anonymous events are dropped (or, with the
  // account's backfill setting, kept in localStorage for up to 14 days).
  // ---------------------------------------------------------------------------------------
  function eventAttributes(name, props) {
    var properties = {};
    for (var key in props) {
      if (has.call(props, key) && key !== '$value' && key !== '$event_id' && key !== 'time') {
        properties[key] = props[key];
      }
    }
    properties.$use_ip = true;
    properties.$is_session_activity = true;
    var attributes = {
      metric: { data: { type: 'metric', attributes: { name: name, service: 'api' } } },
      profile: null,
      properties: properties
    };
    if (has.call(props, '$value') && props.$value !== undefined) {
      attributes.value = props.$value;
    }
    if (has.call(props, '$event_id') && props.$event_id !== undefined) {
      attributes.unique_id = props.$event_id;
    }
    if (has.call(props, 'time') && props.time !== undefined) {
      attributes.time = props.time;
    }
    return attributes;
  }

  function track(args, done) {
    var name = args[0];
    var props = args.length > 1 ? args[1] : undefined;
    if (typeof name !== 'string' || name === '') {
      diagnose('bad_arguments', 'track', null,
        'Nothing was sent: ' + callText('track', args) + ' has no event name; the first ' +
        'argument must be a non-empty string, e.g. klaviyo.track("Added to Cart", {...}).', args);
      return true; // never resolves, like any event Klaviyo does not take
    }
    if (props === undefined || props === null) {
      props = {};
    } else if (!isObject(props)) {
      diagnose('bad_arguments', 'track', name,
        'The properties of "' + name + '" were ignored: the second argument must be an ' +
        'object of event properties, not ' + json(jsonSafe(props, 0, [])) + '.', args);
      props = {};
    }
    if (name.length >= METRIC_NAME_MAX) {
      diagnose('bad_arguments', 'track', name,
        'The metric name is ' + name.length + ' characters long; Klaviyo needs fewer than ' +
        METRIC_NAME_MAX + ', so it will reject this event. Use a shorter event name.', args);
    }
    if (has.call(props, '$value') && props.$value !== undefined &&
        !(typeof props.$value === 'number' && isFinite(props.$value))) {
      diagnose('bad_arguments', 'track', name,
        '"' + name + '" has $value ' + json(jsonSafe(props.$value, 0, [])) + ', which is not a ' +
        'number: Klaviyo\'s onsite script sends it anyway and the revenue is lost. Send ' +
        '$value as a number (e.g. 29.98, not "29.98").', args);
    }
    var attributes = eventAttributes(name, props);

    if (!state.account) {
      diagnose('dropped', 'track', name,
        '"' + name + '" was dropped: no Klaviyo account is set on this page. Load klaviyo.js ' +
        'with your public key or call klaviyo.account("<KEY>") first.', args);
      return true;
    }
    if (!isIdentified()) {
      if (CONFIG.backfillAnonymous) {
        saveBackfill(attributes);
        diagnose('dropped', 'track', name,
          '"' + name + '" was not sent: the visitor was never identified. With the account\'s ' +
          'anonymous backfill on, Klaviyo keeps it in this browser (localStorage ' + BACKFILL_KEY +
          ', up to 14 days) and sends it only if the visitor is identified later. Identify ' +
          'first (klaviyo.identify({email: ...})) to have it in Klaviyo now.', args);
      } else {
        diagnose('dropped', 'track', name,
          '"' + name + '" was dropped: the visitor was never identified, and Klaviyo\'s onsite ' +
          'script only tracks identified ("cookied") browsers; the call\'s promise never ' +
          'resolves. Call klaviyo.identify({email: ...}) first (or arrive with ?_kx= or ' +
          '?utm_email= in the URL).', args);
      }
      return true; // sends nothing and never resolves [onsite]
    }
    attributes.profile = eventProfile();
    post('/client/events/', REVISION_EVENTS, { data: { type: 'event', attributes: attributes } },
      function () {
        // [inferred] resolve once the request is answered, so awaiting it means "sent".
        done(true);
      });
    return true;
  }

  // Anonymous backfill [docs]: events wait in localStorage, flushed after identify.
  function loadBackfill() {
    var list = null;
    try {
      list = JSON.parse(storageGet('localStorage', BACKFILL_KEY) || '[]');
    } catch (e) {
      list = null;
    }
    if (!isArray(list)) {
      return [];
    }
    var cutoff = new Date().getTime() - BACKFILL_MAX_AGE_MS;
    var kept = [];
    for (var i = 0; i < list.length; i++) {
      if (list[i] && list[i].saved_at >= cutoff && isObject(list[i].event)) {
        kept.push(list[i]);
      }
    }
    return kept;
  }

  function saveBackfill(attributes) {
    var event = { type: 'event', attributes: {} };
    for (var key in attributes) {
      if (has.call(attributes, key) && key !== 'profile') {
        event.attributes[key] = attributes[key];
      }
    }
    if (!has.call(event.attributes, 'time')) {
      event.attributes.time = new Date().toISOString(); // when it happened, not when flushed
    }
    var list = loadBackfill();
    list.push({ saved_at: new Date().getTime(), event: event });
    storageSet('localStorage', BACKFILL_KEY, json(list));
  }

  function flushBackfill() {
    if (!CONFIG.backfillAnonymous || !isIdentified()) {
      return;
    }
    var list = loadBackfill();
    storageSet('localStorage', BACKFILL_KEY, list.length ? '[]' : null);
    if (!list.length) {
      return;
    }
    var profile = eventProfile();
    for (var start = 0; start < list.length; start += BACKFILL_BATCH) {
      sendBackfillBatch(profile, list.slice(start, start + BACKFILL_BATCH));
    }
  }

  function sendBackfillBatch(profile, entries) {
    var events = [];
    for (var i = 0; i < entries.length; i++) {
      events.push(entries[i].event);
    }
    var body = {
      data: {
        type: 'event-bulk-create',
        attributes: { profile: profile, events: { data: events } }
      }
    };
    post('/client/event-bulk-create/', REVISION_BULK, body, function (status) {
      if (status < 200 || status >= 300) {
        // Not taken: keep them for the next identification (within their 14 days).
        var list = loadBackfill().concat(entries);
        storageSet('localStorage', BACKFILL_KEY, json(list));
      }
    });
  }

  // ---------------------------------------------------------------------------------------
  // trackViewedItem [onsite]: localStorage __kla_viewed = JSON [[item, views], ...], at most
  // 20, by views, 30 days; identified visitors also get properties.$viewed_items.
  // ---------------------------------------------------------------------------------------
  function trackViewedItem(args, done) {
    var item = args[0];
    if (!isObject(item)) {
      diagnose('bad_arguments', 'trackViewedItem', null,
        'Nothing was stored or sent: ' + callText('trackViewedItem', args) + ' needs an item ' +
        'object such as {Title, ItemId, Categories, ImageUrl, Url, Metadata: {Brand, Price, ' +
        'CompareAtPrice}}.', args);
      done(undefined);
      return undefined;
    }
    if (item.ItemId === undefined || item.ItemId === null || item.ItemId === '') {
      diagnose('bad_arguments', 'trackViewedItem', null,
        'The viewed item has no ItemId, so repeated views cannot be counted together and ' +
        'recommendations cannot match it to the catalog. Set ItemId to the catalog item id.', args);
    }
    var now = nowSeconds();
    item = extend({}, item, { LastViewedDate: now });
    var list = loadViewed(now);
    var views = 1;
    for (var i = 0; i < list.length; i++) {
      if (item.ItemId !== undefined && item.ItemId !== null &&
          String(list[i][0].ItemId) === String(item.ItemId)) {
        views = (Number(list[i][1]) || 0) + 1;
        list.splice(i, 1);
        break;
      }
    }
    // Most recent first, then a stable sort by views: ties keep recency [inferred].
    list.unshift([item, views]);
    list = stableSortByViews(list).slice(0, VIEWED_MAX);
    storageSet('localStorage', VIEWED_KEY, json(list));

    if (isIdentified()) {
      var items = [];
      for (var j = 0; j < list.length; j++) {
        items.push(list[j][0]);
      }
      queueIdentify({ $viewed_items: items }, 'trackViewedItem', args, noop);
    } else {
      diagnose('dropped', 'trackViewedItem', null,
        'The viewed item was stored in this browser only (localStorage ' + VIEWED_KEY + '): ' +
        'the visitor was never identified, so Klaviyo receives no $viewed_items. Identify the ' +
        'visitor first (klaviyo.identify({email: ...})).', args);
    }
    done(undefined);
    return undefined;
  }

  function loadViewed(now) {
    var list = null;
    try {
      list = JSON.parse(storageGet('localStorage', VIEWED_KEY) || '[]');
    } catch (e) {
      list = null;
    }
    if (!isArray(list)) {
      return [];
    }
    var kept = [];
    for (var i = 0; i < list.length; i++) {
      var entry = list[i];
      if (isArray(entry) && isObject(entry[0]) &&
          now - (Number(entry[0].LastViewedDate) || 0) <= VIEWED_MAX_AGE_S) {
        kept.push(entry);
      }
    }
    return kept;
  }

  function stableSortByViews(list) {
    var decorated = [];
    for (var i = 0; i < list.length; i++) {
      decorated.push({ entry: list[i], index: i });
    }
    decorated.sort(function (a, b) {
      var diff = (Number(b.entry[1]) || 0) - (Number(a.entry[1]) || 0);
      return diff || a.index - b.index;
    });
    var out = [];
    for (var j = 0; j < decorated.length; j++) {
      out.push(decorated[j].entry);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // The methods. Each takes (args, done): done(returnValue) resolves the klaviyo Promise /
  // calls the callback (maybe later, maybe never); the function's own return value is what
  // the legacy, synchronous _learnq.<method>() returns.
  // ---------------------------------------------------------------------------------------
  var METHODS = {
    identify: function (args, done) {
      if (!args.length) {
        done(identityObject()); // identify() reads the identity
        return identityObject();
      }
      var props = args[0];
      if (props === undefined || props === null) {
        props = {};
      } else if (!isObject(props)) {
        diagnose('bad_arguments', 'identify', null,
          'Nothing was sent: ' + callText('identify', args) + ' needs an object of profile ' +
          'properties, e.g. klaviyo.identify({email: "..."}).', args);
        done(identityObject());
        return identityObject();
      }
      queueIdentify(extend({}, props), 'identify', args, done);
      return identityObject();
    },
    track: track,
    trackViewedItem: trackViewedItem,
    account: function (args, done) {
      var id = args[0];
      if (typeof id === 'string' && id !== '') {
        if (id !== state.account) {
          state.account = id;
          checkExchangeCompany();
        }
      } else if (id !== undefined && id !== null) {
        diagnose('bad_arguments', 'account', null,
          callText('account', args) + ' was ignored: the account id must be your public API ' +
          'key as a string (6 characters).', args);
      }
      var value = state.account || CONFIG.companyId;
      done(value);
      return value;
    },
    cookieDomain: function (args, done) {
      var domain = args[0];
      if (typeof domain === 'string' && domain !== '') {
        state.cookieDomain = domain;
        saveIdentity();
      } else if (domain !== undefined && domain !== null) {
        diagnose('bad_arguments', 'cookieDomain', null,
          callText('cookieDomain', args) + ' was ignored: the cookie domain must be a string ' +
          'such as ".example.com".', args);
      }
      var value = state.cookieDomain || null;
      done(value);
      return value;
    },
    isIdentified: function (args, done) {
      var value = isIdentified();
      done(value);
      return value;
    },
    openForm: function (args, done) {
      done(undefined); // the stand-in renders no forms
      return undefined;
    }
  };

  // Run one call. callback gets the method's return value (when the method decides).
  function run(method, args, callback) {
    if (typeof method !== 'string' || !has.call(METHODS, method)) {
      var shown = [method].concat(args);
      if (window.console && console.warn) {
        console.warn('Unable to process event: ' + json(jsonSafe(shown, 0, [])));
      }
      diagnose('unknown_method', typeof method === 'string' ? method : null, null,
        'The call ' + json(jsonSafe(shown, 0, [])) + ' was ignored: ' + json(jsonSafe(method, 0, [])) +
        ' is not a method of Klaviyo\'s onsite script (it only logs "Unable to process event"). ' +
        'Supported: ' + METHOD_NAMES.join(', ') + '.', args);
      return undefined;
    }
    var settled = false;
    function done(value) {
      if (!settled) {
        settled = true;
        if (callback) {
          callSafely(callback, [value]);
        }
      }
    }
    try {
      return METHODS[method](args, done);
    } catch (e) {
      // A bug of ours must not break the page's queue.
      if (window.console && console.error) {
        console.error('[klaviyo stand-in] ' + method + ' failed', e);
      }
      return undefined;
    }
  }

  // One queued item: [method, ...args, callback?] or a function. The last element, when a
  // function, is the callback (the klaviyo loader puts its Promise resolver there).
  function processItem(item) {
    if (typeof item === 'function') {
      callSafely(item);
      return undefined;
    }
    if (!isArray(item) || !item.length) {
      diagnose('unknown_method', null, null,
        'An item pushed to the Klaviyo queue was ignored: ' + json(jsonSafe(item, 0, [])) +
        ' is neither ["method", ...arguments] nor a function.', [item]);
      return undefined;
    }
    var args = item.slice(1);
    var callback = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    return run(item[0], args, callback);
  }

  // ---------------------------------------------------------------------------------------
  // Active on Site [onsite]: every page load of an identified visitor tracks __activity__.
  // ---------------------------------------------------------------------------------------
  function browserName(ua) {
    if (/Edg\//.test(ua)) { return 'Edge'; }
    if (/OPR\/|Opera/.test(ua)) { return 'Opera'; }
    if (/SamsungBrowser/.test(ua)) { return 'Samsung Internet'; }
    if (/Firefox\/|FxiOS/.test(ua)) { return 'Firefox'; }
    if (/Chrome\/|CriOS/.test(ua)) { return 'Chrome'; }
    if (/Safari\//.test(ua)) { return 'Safari'; }
    if (/MSIE |Trident\//.test(ua)) { return 'Internet Explorer'; }
    return 'Other';
  }

  function osName(ua) {
    if (/Windows/.test(ua)) { return 'Windows'; }
    if (/iPhone|iPad|iPod/.test(ua)) { return 'iOS'; }
    if (/Mac OS X|Macintosh/.test(ua)) { return 'Mac OS X'; }
    if (/Android/.test(ua)) { return 'Android'; }
    if (/CrOS/.test(ua)) { return 'Chrome OS'; }
    if (/Linux/.test(ua)) { return 'Linux'; }
    return 'Other';
  }

  function trackActivity(params) {
    if (!isIdentified()) {
      return;
    }
    var ua = String(window.navigator.userAgent || '');
    var props = {
      page: window.location.href,
      browser: browserName(ua),
      os: osName(ua),
      referrer: document.referrer
    };
    for (var key in params) {
      if (has.call(params, key) && key.indexOf('utm_') === 0) {
        props[key] = params[key];
      }
    }
    run('track', ['__activity__', props], null);
  }

  // ---------------------------------------------------------------------------------------
  // URL identification on load [onsite]: ?_kx=<exchange id>, ?_ke=<base64 JSON or email>,
  // ?utm_email=<email>.
  // ---------------------------------------------------------------------------------------
  function identifyFromUrl(params) {
    var kx = params._kx;
    if (kx && EXCHANGE_ID_RE.test(kx) && exchangeCompany(kx) === state.account) {
      // [inferred] a link's exchange id is stored as is; nothing is sent for it.
      var pending = pendingIdentifiers();
      for (var key in pending) {
        delete state.cookie[key];
      }
      storeExchangeId(kx);
    }
    var email = null;
    if (params._ke) {
      email = emailFromKe(params._ke);
    }
    if (!email && params.utm_email && params.utm_email.indexOf('@') > 0) {
      email = params.utm_email;
    }
    if (email) {
      queueIdentify({ $email: email }, 'identify', [{ $email: email }], noop);
    }
  }

  // _ke: base64 of JSON like {"kl_email": "...", "kl_company_id": "..."} [inferred keys], or
  // base64 of an email, or a plain email.
  function emailFromKe(value) {
    var decoded = null;
    try {
      decoded = b64decode(value);
    } catch (e) {
      decoded = null;
    }
    if (decoded) {
      var parsed = null;
      try {
        parsed = JSON.parse(decoded);
      } catch (e) {
        parsed = null;
      }
      if (isObject(parsed)) {
        var company = parsed.kl_company_id || parsed.company_id;
        if (company && company !== state.account) {
          return null;
        }
        var e1 = parsed.kl_email || parsed.$email || parsed.email;
        return typeof e1 === 'string' && e1.indexOf('@') > 0 ? e1 : null;
      }
      if (decoded.indexOf('@') > 0) {
        return decoded;
      }
    }
    return value.indexOf('@') > 0 ? value : null;
  }

  // ---------------------------------------------------------------------------------------
  // Loading [onsite]: _klOnsite items become legacy _learnq calls; _learnq drains with
  // account, cookieDomain and identify first; then every push dispatches at once.
  // ---------------------------------------------------------------------------------------
  function promiseMethod(method) {
    return function () {
      var args = toArray(arguments);
      var callback = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      if (typeof window.Promise !== 'function') {
        run(method, args, callback);
        return undefined;
      }
      return new window.Promise(function (resolve) {
        run(method, args, function (value) {
          if (callback) {
            callSafely(callback, [value]);
          }
          resolve(value);
        });
      });
    };
  }

  function pushAll() {
    for (var i = 0; i < arguments.length; i++) {
      processItem(arguments[i]);
    }
  }

  function legacyMethod(method) {
    return function () {
      return run(method, toArray(arguments), null);
    };
  }

  function load() {
    loadIdentity();
    if (state.off) {
      reportTrackingOff();
    }

    var learnq = isArray(window._learnq) ? window._learnq : [];
    var klOnsite = isArray(window._klOnsite) ? window._klOnsite : [];
    window._learnq = learnq;
    window._klOnsite = klOnsite;

    // The klaviyo object: the page's loader Proxy is kept as is (it already pushes to
    // _klOnsite); the loader's fallback array, or no object at all, gets real methods.
    var klaviyo = window.klaviyo;
    if (!klaviyo || isArray(klaviyo)) {
      klaviyo = klaviyo || {};
      // Items pushed on the fallback array itself (not through its push) are queued too.
      while (isArray(klaviyo) && klaviyo.length) {
        klOnsite.push(klaviyo.shift());
      }
      for (var m = 0; m < METHOD_NAMES.length; m++) {
        klaviyo[METHOD_NAMES[m]] = promiseMethod(METHOD_NAMES[m]);
      }
      klaviyo.push = pushAll;
      window.klaviyo = klaviyo;
    }

    var params = queryParams();
    var first = true;
    // Loop: callbacks and functions run during the drain may queue more.
    while (learnq.length || klOnsite.length) {
      while (klOnsite.length) {
        Array.prototype.push.call(learnq, klOnsite.shift());
      }
      var items = learnq.splice(0, learnq.length);
      var rest = [];
      for (var i = 0; i < items.length; i++) {
        if (isArray(items[i]) && PRIORITY[items[i][0]] === true) {
          processItem(items[i]);
        } else {
          rest.push(items[i]);
        }
      }
      if (first) {
        first = false;
        identifyFromUrl(params);
        trackActivity(params);
        flushBackfill();
      }
      for (var j = 0; j < rest.length; j++) {
        processItem(rest[j]);
      }
    }
    if (first) {
      identifyFromUrl(params);
      trackActivity(params);
      flushBackfill();
    }

    // From now on every push dispatches at once.
    klOnsite.push = pushAll;
    learnq.push = pushAll;
    for (var k = 0; k < METHOD_NAMES.length; k++) {
      learnq[METHOD_NAMES[k]] = legacyMethod(METHOD_NAMES[k]);
    }
    // [inferred] where the flag lives: on both queues.
    learnq._loaded = true;
    klOnsite._loaded = true;
  }

  load();
})(window, document);
