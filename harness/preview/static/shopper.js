/*
 * The preview's shopper, shared by the storefront and the inspector (one origin, one storage):
 * klaviyoPreviewShopper.key is where the storefront remembers who signed in, and forget()
 * signs the shopper out: Klaviyo's cookies and storage, and that memory. Plain ES5.
 */
(function (window, document) {
  'use strict';

  var KEY = 'klaviyo-snippets-preview.shopper';

  function forget() {
    var names = ['__kla_id', '__kla_off'];
    for (var i = 0; i < names.length; i++) {
      document.cookie = names[i] + '=; Max-Age=0; path=/';
    }
    try {
      window.sessionStorage.removeItem('_kx');
      window.localStorage.removeItem('__kla_viewed');
      window.localStorage.removeItem('kl-post-identification-sync');
      window.localStorage.removeItem(KEY);
    } catch (e) {
      // storage blocked: nothing stored either
    }
  }

  window.klaviyoPreviewShopper = { key: KEY, forget: forget };
})(window, document);
