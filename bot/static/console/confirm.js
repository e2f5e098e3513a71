// Forms that undo something hard to take back (停用 an account) ask first: <form data-confirm="…">.
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
