// The admin view: filled in for administrators (see hud.js signedIn).
"use strict";

window.blfgwAdmin = {
  show() {},
  hide() {},
};
