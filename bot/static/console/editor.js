// The template editor: run the library's checks and show the citizen's view as the text is typed.
(function () {
  "use strict";
  var script = document.currentScript;
  var body = document.getElementById("body");
  if (!body) { return; }
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var findings = document.getElementById("findings");
  var preview = document.getElementById("preview");
  var previewT = document.getElementById("preview-traditional");
  var bytes = document.getElementById("bytes");
  var timer = null;

  function show(data) {
    findings.textContent = "";
    if (!data.findings.length) {
      var ok = document.createElement("li");
      ok.className = "ok";
      ok.textContent = "未发现问题";
      findings.appendChild(ok);
    }
    data.findings.forEach(function (f) {
      var li = document.createElement("li");
      li.textContent = f.message + (f.text ? "：“" + f.text + "”" : "");
      findings.appendChild(li);
    });
    preview.textContent = data.preview;
    previewT.textContent = data.preview_traditional;
    bytes.textContent = data.bytes + " / " + data.max_bytes + " 字节";
  }

  function check() {
    fetch(script.dataset.check, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify({body: body.value})
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) { if (data) { show(data); } });
  }

  body.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  if (body.value) { check(); }
})();
