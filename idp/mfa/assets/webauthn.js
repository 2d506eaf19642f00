// Passkeys and security keys for Tollgate's second factor. This file is served by the gate:
// its pages allow no inline script (Content-Security-Policy script-src 'self'). The element
// #webauthn carries the mode (login or register), the session's CSRF token and where to go
// afterwards; the server checks everything again.
(function () {
  'use strict';

  var root = document.getElementById('webauthn');
  if (!root || !window.PublicKeyCredential) {
    if (root) status('This browser does not support passkeys or security keys.', true);
    return;
  }

  function status(msg, isError) {
    var el = document.getElementById('webauthn-status');
    el.textContent = msg;
    el.className = isError ? 'error' : 'hint';
  }

  function toBuffer(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toBase64url(buf) {
    if (!buf) return undefined;
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function post(path, body) {
    return fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Tollgate-Csrf': root.dataset.csrf },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error(data.detail || data.title || 'The gate refused the request.');
        return data;
      });
    });
  }

  function descriptors(list) {
    (list || []).forEach(function (c) { c.id = toBuffer(c.id); });
  }

  function register() {
    var name = document.getElementById('passkey-name').value;
    status('Follow your browser\u2019s prompt\u2026');
    return post('/_tollgate/mfa/webauthn/register/begin', { rd: root.dataset.rd }).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = toBuffer(pk.challenge);
      pk.user.id = toBuffer(pk.user.id);
      descriptors(pk.excludeCredentials);
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      return post('/_tollgate/mfa/webauthn/register/finish', {
        name: name,
        rd: root.dataset.rd,
        credential: {
          id: cred.id,
          rawId: toBase64url(cred.rawId),
          type: cred.type,
          authenticatorAttachment: cred.authenticatorAttachment || undefined,
          response: {
            clientDataJSON: toBase64url(cred.response.clientDataJSON),
            attestationObject: toBase64url(cred.response.attestationObject),
            transports: cred.response.getTransports ? cred.response.getTransports() : []
          },
          clientExtensionResults: cred.getClientExtensionResults()
        }
      });
    });
  }

  function login() {
    status('Follow your browser\u2019s prompt\u2026');
    return post('/_tollgate/mfa/webauthn/login/begin', { rd: root.dataset.rd }).then(function (opts) {
      var pk = opts.publicKey;
      pk.challenge = toBuffer(pk.challenge);
      descriptors(pk.allowCredentials);
      return navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      return post('/_tollgate/mfa/webauthn/login/finish', {
        rd: root.dataset.rd,
        credential: {
          id: cred.id,
          rawId: toBase64url(cred.rawId),
          type: cred.type,
          authenticatorAttachment: cred.authenticatorAttachment || undefined,
          response: {
            clientDataJSON: toBase64url(cred.response.clientDataJSON),
            authenticatorData: toBase64url(cred.response.authenticatorData),
            signature: toBase64url(cred.response.signature),
            userHandle: toBase64url(cred.response.userHandle)
          },
          clientExtensionResults: cred.getClientExtensionResults()
        }
      });
    });
  }

  var mode = root.dataset.mode;
  var button = document.getElementById(mode === 'register' ? 'passkey-register' : 'passkey-login');
  button.addEventListener('click', function () {
    button.disabled = true;
    (mode === 'register' ? register() : login()).then(function (res) {
      status('Done.');
      window.location.assign(res.redirect);
    }).catch(function (err) {
      button.disabled = false;
      status(err && err.message ? err.message : 'That did not work. Try again.', true);
    });
  });
})();
