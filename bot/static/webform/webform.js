// minsheng web form: small helps on top of a form that works without them (the server checks everything again).
// Shows the photos chosen (behind Chinese buttons, in place of the browser's own file fields) and stops a post
// that would be refused for their number or size before it is sent (a body over the limit cannot be read back:
// the citizen would have to type the letter again), counts the characters of the description, hides the phone
// field when no call-back is wanted, and makes a second tap on 提交 wait for the first. Plain ES5: WeChat's
// older in-app browsers run it too.
(function () {
  "use strict";
  var form = document.getElementById("letter");
  if (!form) {
    return;
  }
  var maxPhotos = parseInt(form.getAttribute("data-max-photos"), 10) || 6;
  var maxBytes = (parseInt(form.getAttribute("data-max-photo-mb"), 10) || 10) * 1024 * 1024;
  var inputs = form.querySelectorAll("input[type=file][name=photos]");
  var list = document.getElementById("photo-list");
  var photoCount = document.getElementById("photo-count");
  var warning = document.getElementById("photo-warning");
  var what = document.getElementById("what");
  var count = document.getElementById("what-count");
  var phoneField = document.getElementById("phone-field");
  var submit = document.getElementById("submit");
  var previews = [];
  // The file fields hide behind Chinese buttons only when this script runs to list what was chosen.
  form.className += " js";

  function chosen() {
    var files = [];
    for (var i = 0; i < inputs.length; i++) {
      for (var j = 0; j < inputs[i].files.length; j++) {
        files.push(inputs[i].files[j]);
      }
    }
    return files;
  }

  function problem(files) {
    if (files.length > maxPhotos) {
      return "最多可上传" + maxPhotos + "张照片，现在选了" + files.length + "张，请重新选择。";
    }
    var big = [];
    for (var i = 0; i < files.length; i++) {
      if (files[i].size > maxBytes) {
        big.push("第" + (i + 1) + "张");
      }
    }
    if (big.length) {
      return big.join("、") + "照片超过" + maxBytes / 1024 / 1024 + "MB，请换用较小的照片。";
    }
    return "";
  }

  function size(bytes) {
    return bytes < 1024 * 1024 ? Math.max(1, Math.round(bytes / 1024)) + "KB" : (bytes / 1024 / 1024).toFixed(1) + "MB";
  }

  function showPhotos() {
    var files = chosen();
    for (var k = 0; k < previews.length; k++) {
      URL.revokeObjectURL(previews[k]);
    }
    previews = [];
    list.textContent = "";
    for (var i = 0; i < files.length; i++) {
      var item = document.createElement("li");
      if (window.URL && URL.createObjectURL && /^image\//.test(files[i].type)) {
        var img = document.createElement("img");
        var url = URL.createObjectURL(files[i]);
        previews.push(url);
        img.src = url;
        img.alt = "第" + (i + 1) + "张照片";
        item.appendChild(img);
      }
      var caption = document.createElement("span");
      caption.textContent = "第" + (i + 1) + "张 " + size(files[i].size);
      if (files[i].size > maxBytes) {
        caption.className = "bad";
      }
      item.appendChild(caption);
      list.appendChild(item);
    }
    photoCount.textContent = files.length ? "已选择" + files.length + "张照片" : "";
    photoCount.hidden = !files.length;
    var message = problem(files);
    warning.textContent = message;
    warning.hidden = !message;
  }

  function showCount() {
    var n = what.value.replace(/\s/g, "").length;
    count.textContent = "已写" + n + "字。";
  }

  function showPhone() {
    var no = form.querySelector("input[name=callback][value=no]");
    phoneField.hidden = !!(no && no.checked);
  }

  for (var i = 0; i < inputs.length; i++) {
    inputs[i].addEventListener("change", showPhotos);
  }
  what.addEventListener("input", showCount);
  var callbacks = form.querySelectorAll("input[name=callback]");
  for (var c = 0; c < callbacks.length; c++) {
    callbacks[c].addEventListener("change", showPhone);
  }
  showCount();
  showPhone();

  form.addEventListener("submit", function (event) {
    var message = problem(chosen());
    if (message) {
      event.preventDefault();
      warning.textContent = message;
      warning.hidden = false;
      warning.scrollIntoView({ block: "center" });
      return;
    }
    if (submit.disabled) {
      event.preventDefault();
      return;
    }
    // After this event: a disabled button is left out of the post, and the post must still go.
    window.setTimeout(function () {
      submit.disabled = true;
      submit.textContent = "正在提交…";
    }, 0);
  });

  // Back from the result page, a page restored from the browser's cache must not stay disabled.
  window.addEventListener("pageshow", function () {
    submit.disabled = false;
    submit.textContent = "提交留言";
  });
})();
