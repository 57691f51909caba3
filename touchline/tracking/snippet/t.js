/* Touchline tracking snippet: page views (with single-page-app navigation) and embedded forms.
   <script async src="https://touchline.example/t.js" data-site="SITE_KEY"></script>
   Options on the tag: data-cookieless (no cookie; a daily anonymous id made by the server),
   data-require-consent (nothing is sent and no cookie is set until touchline('consent', true)).
   Do Not Track is respected. Each hit has an id and stays queued in localStorage until the
   collector answers 2xx, so a hit is retried on a later page if the network or server fails. */
(function (w, d) {
  "use strict";
  var s = d.currentScript || d.querySelector("script[data-site]");
  if (!s || w.touchline && w.touchline.loaded) return;
  var base = s.src.replace(/\/t\.js(\?.*)?$/, ""), site = s.getAttribute("data-site");
  var cookieless = s.hasAttribute("data-cookieless");
  var consent = !s.hasAttribute("data-require-consent");
  var dnt = d.doNotTrack === "1" || w.navigator.doNotTrack === "1" || w.doNotTrack === "1" ||
    w.navigator.globalPrivacyControl === true;
  var KEY = "tl_q", COOKIE = "tl_vid", lastUrl = null, lastRef = d.referrer;

  function id() {
    var a = new Uint8Array(16), h = "";
    (w.crypto || w.msCrypto).getRandomValues(a);
    for (var i = 0; i < 16; i++) h += (a[i] + 256).toString(16).slice(1);
    return h;
  }
  function visitor() {
    if (cookieless) return null;
    var m = d.cookie.match(/(?:^|; )tl_vid=([A-Za-z0-9_-]{8,64})/), v = m ? m[1] : id();
    d.cookie = COOKIE + "=" + v + "; path=/; max-age=34190000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
    return v;
  }
  function load() {
    try { return JSON.parse(w.localStorage.getItem(KEY)) || []; } catch (e) { return []; }
  }
  function save(q) {
    try { w.localStorage.setItem(KEY, JSON.stringify(q.slice(-50))); } catch (e) { /* private mode */ }
  }
  function drop(hid) {
    save(load().filter(function (x) { return x.h !== hid; }));
  }
  function send(hit) {
    var body = JSON.stringify(hit);
    if (w.fetch) {
      w.fetch(base + "/t/collect", { method: "POST", body: body, keepalive: true,
        headers: { "Content-Type": "text/plain" } })
        .then(function (r) { if (r.ok || r.status < 500 && r.status !== 429) drop(hit.h); })
        .catch(function () { /* kept in the queue: retried on the next page */ });
    } else if (w.navigator.sendBeacon && w.navigator.sendBeacon(base + "/t/collect", body)) {
      drop(hit.h);
    }
  }
  function page() {
    if (!consent || dnt || !site) return;
    var url = location.href;
    if (url === lastUrl) return;
    var hit = { k: site, h: id(), v: visitor(), u: url, t: d.title, r: lastRef || "", w: screen.width,
      t0: Date.now() };
    lastRef = lastUrl || d.referrer;
    lastUrl = url;
    var q = load();
    q.push(hit);
    save(q);
    q.forEach(function (x) { x.a = Math.max(0, Date.now() - x.t0); send(x); });
  }
  function spa(name) {
    var orig = history[name];
    history[name] = function () {
      var r = orig.apply(this, arguments);
      lastRef = lastUrl;
      page();
      return r;
    };
  }
  function form(el) {
    var key = el.getAttribute("data-touchline-form");
    w.fetch(base + "/t/forms/" + key).then(function (r) { return r.json(); }).then(function (def) {
      var f = d.createElement("form"), sid = id();
      def.fields.forEach(function (fd) {
        var l = d.createElement("label"), i = d.createElement(fd.type === "textarea" ? "textarea" : "input");
        l.textContent = fd.label;
        if (fd.type !== "textarea") i.type = fd.type;
        i.name = fd.name;
        i.required = fd.required;
        l.appendChild(i);
        f.appendChild(l);
      });
      var hp = d.createElement("input");
      hp.name = def.honeypot; hp.tabIndex = -1; hp.autocomplete = "off";
      hp.style.cssText = "position:absolute;left:-9999px";
      hp.setAttribute("aria-hidden", "true");
      f.appendChild(hp);
      var b = d.createElement("button"), msg = d.createElement("p");
      b.type = "submit"; b.textContent = "Submit";
      f.appendChild(b); f.appendChild(msg);
      f.addEventListener("submit", function (e) {
        e.preventDefault();
        var data = {};
        new FormData(f).forEach(function (v, k) { data[k] = v; });
        b.disabled = true;
        w.fetch(base + "/t/forms/" + key + "/submit", { method: "POST", headers: { "Content-Type": "text/plain" },
          body: JSON.stringify({ id: sid, v: consent && !dnt ? visitor() : null, u: location.href, data: data }) })
          .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
          .then(function (res) {
            b.disabled = false;
            if (res[0] < 300) { f.replaceChildren(d.createTextNode(res[1].thank_you)); return; }
            var fields = res[1].error && res[1].error.fields || {};
            msg.textContent = res[1].error ? res[1].error.message + " " + Object.keys(fields).map(function (k) {
              return k + ": " + fields[k]; }).join(" ") : "Error";
          })
          .catch(function () { b.disabled = false; msg.textContent = "Could not send; please try again."; });
      });
      el.replaceChildren(f);
    });
  }
  var queued = w.touchline && w.touchline.q || [];
  w.touchline = function (cmd, arg) {
    if (cmd === "consent") { consent = !!arg; if (consent) page(); else d.cookie = COOKIE + "=; path=/; max-age=0"; }
    else if (cmd === "page") { lastUrl = null; page(); }
  };
  w.touchline.loaded = true;
  queued.forEach(function (c) { w.touchline.apply(null, c); });
  spa("pushState"); spa("replaceState");
  w.addEventListener("popstate", function () { lastRef = lastUrl; page(); });
  var forms = d.querySelectorAll("[data-touchline-form]");
  for (var i = 0; i < forms.length; i++) form(forms[i]);
  page();
})(window, document);
