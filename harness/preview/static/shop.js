/*
 * klaviyo-snippets preview: the sample storefront's own behaviour (not part of what a theme
 * pastes). It keeps the shopper on the preview so no event is lost to a navigation, calls the
 * events your own code would call (Added to Cart), shows who is signed in, and forwards what the
 * generated code says on the console (an event it refused to send) to the inspector.
 *
 * Runs at the end of <body>: before DOMContentLoaded, so before any page-load event fires.
 * Plain ES5; writes text with textContent only.
 */
(function (window, document) {
  'use strict';

  var SHOPPER_KEY = window.klaviyoPreviewShopper.key; // shopper.js
  var forgetShopper = window.klaviyoPreviewShopper.forget;
  var statusBox = document.getElementById('shop-status');
  var hideTimer = null;

  function say(text) {
    if (!statusBox) {
      return;
    }
    statusBox.textContent = text;
    statusBox.classList.add('shown');
    window.clearTimeout(hideTimer);
    hideTimer = window.setTimeout(function () {
      statusBox.classList.remove('shown');
    }, 6000);
  }

  // -- the generated code's console warnings, forwarded to the inspector -------------------
  function report(message) {
    var body = JSON.stringify({ message: message, page: window.location.href });
    try {
      if (window.navigator.sendBeacon &&
          window.navigator.sendBeacon('/api/warnings', new Blob([body], { type: 'application/json' }))) {
        return;
      }
    } catch (e) {
      // fall through
    }
    try {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/warnings', true);
      xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.send(body);
    } catch (e) {
      // nowhere to report to
    }
  }

  if (window.console && typeof window.console.warn === 'function') {
    var originalWarn = window.console.warn;
    window.console.warn = function () {
      try {
        var first = arguments[0];
        if (typeof first === 'string' && first.indexOf('klaviyo-snippets:') === 0) {
          report(first);
        }
      } catch (e) {
        // never break the page's own logging
      }
      return originalWarn.apply(window.console, arguments);
    };
  }

  // -- who is signed in ---------------------------------------------------------------------
  function readStorage(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  // Identified means Klaviyo's cookie __kla_id (base64 JSON) holds an exchange id.
  function identified() {
    var match = /(?:^|;\s*)__kla_id=([^;]*)/.exec(document.cookie);
    if (!match) {
      return false;
    }
    try {
      var raw = decodeURIComponent(match[1]);
      while (raw.length % 4) {
        raw += '=';
      }
      return !!JSON.parse(window.atob(raw)).$exchange_id;
    } catch (e) {
      return false;
    }
  }

  function showShopper() {
    var box = document.getElementById('shopper-status');
    if (!box) {
      return;
    }
    var who = readStorage(SHOPPER_KEY);
    box.textContent = identified() ? 'Signed in as ' + (who || 'an identified shopper') : 'Not signed in (anonymous)';
  }


  // -- clicks: calls your code would make, and links that would leave the preview ---------
  document.addEventListener('click', function (event) {
    var target = event.target;
    if (!target || !target.closest) {
      return;
    }
    var call = target.closest('[data-preview-call]');
    if (call) {
      callEvent(call);
      return;
    }
    if (target.closest('#forget-shopper')) {
      forgetShopper();
      window.location.reload();
      return;
    }
    var link = target.closest('a[href]');
    if (link && !event.defaultPrevented) {
      var url;
      try {
        url = new URL(link.href, window.location.href);
      } catch (e) {
        return;
      }
      if (url.origin !== window.location.origin) {
        // The generated click trigger ran already (capture phase); staying here keeps its
        // request alive and the preview usable.
        event.preventDefault();
        say('The link goes to ' + url.href + ': the preview stays here (a real store would navigate).');
      }
    }
  });

  function callEvent(button) {
    var name = button.getAttribute('data-preview-call');
    var holder = document.getElementById(button.getAttribute('data-preview-args') || '');
    var args = [];
    try {
      args = holder ? JSON.parse(holder.textContent) : [];
    } catch (e) {
      say('The sample arguments for ' + name + ' are not JSON.');
      return;
    }
    var api = window.klaviyoSnippets;
    if (!api || typeof api[name] !== 'function') {
      say('klaviyoSnippets.' + name + ' is not defined on this page (is install.html in the head?).');
      return;
    }
    var result = api[name].apply(api, args);
    if (result === false) {
      say('klaviyoSnippets.' + name + '() refused to send: see the inspector for why.');
    } else {
      say('Called klaviyoSnippets.' + name + '() with the plan\'s sample.');
    }
  }

  // -- forms: never navigate; remember who signed in -----------------------------------------
  document.addEventListener('submit', function (event) {
    var form = event.target;
    event.preventDefault();
    var widget = form.closest ? form.closest('[data-method]') : null;
    if (widget && widget.getAttribute('data-method') === 'identify') {
      var field = form.elements.email || form.querySelector('input[type=email]') || form.querySelector('input');
      var who = field && field.value ? field.value : 'this shopper';
      try {
        window.localStorage.setItem(SHOPPER_KEY, who);
      } catch (e) {
        // fine: the header just will not say who
      }
      say('Signing in as ' + who + '. Klaviyo\'s onsite script sends the identify in a moment.');
      window.setTimeout(showShopper, 700);
      window.setTimeout(showShopper, 1500);
      return;
    }
    say('Sent. The preview stays on this page so the request is not cut short.');
  });

  showShopper();
})(window, document);
