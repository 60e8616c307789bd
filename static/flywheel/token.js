// "Token created" page: select the secret on click and copy it with the Copy button.
(function () {
  var input = document.getElementById("token-secret");
  var button = document.getElementById("token-copy");
  var status = document.getElementById("token-copy-status");
  if (!input || !button) return;
  input.addEventListener("click", function () { input.select(); });
  button.hidden = false;
  function done(ok) {
    status.textContent = ok ? "Copied to the clipboard." : "Could not copy: select the token and copy it by hand.";
    if (ok) { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 2000); }
  }
  button.addEventListener("click", function () {
    input.select();
    // The async clipboard API needs a secure context (https or localhost); fall back to execCommand.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(document.execCommand("copy")); });
    } else {
      done(document.execCommand("copy"));
    }
  });
})();
