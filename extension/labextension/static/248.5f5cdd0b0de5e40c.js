"use strict";(self.rspackChunk_workbench_jupyterlab=self.rspackChunk_workbench_jupyterlab||[]).push([[248],{329(e,o,r){var n=r(601),t=r.n(n),a=r(314),i=(r.n(a))()(t());i.push([e.id,`/* Activation diff renderer (src/diff.ts). Text and the backgrounds behind text use JupyterLab's
   theme variables (the ones workbench/theme.py's --wb-* resolve to inside JupyterLab), so the view
   follows the light and dark themes; the data colours (error_colour, carried in the JSON) fill only
   heatmap buttons, swatches, bars and the frame around a number, never the ground under text. */
.jp-WorkbenchDiff {
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
  overflow-x: auto;
}

.jp-WorkbenchDiff-verdict {
  margin: 2px 0;
}

.jp-WorkbenchDiff-verdict.jp-mod-diverged {
  color: var(--jp-error-color1);
  font-weight: 600;
}

.jp-WorkbenchDiff-verdict.jp-mod-identical,
.jp-WorkbenchDiff-verdict.jp-mod-ok {
  color: var(--jp-success-color1);
  font-weight: 600;
}

.jp-WorkbenchDiff-verdict.jp-mod-warning {
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color0);
  border: 2px solid var(--jp-warn-color0);
  padding: 4px 6px;
  font-weight: 600;
}

.jp-WorkbenchDiff-legend,
.jp-WorkbenchDiff-muted {
  color: var(--jp-ui-font-color2);
  margin: 2px 0 4px;
}

.jp-WorkbenchDiff-swatch {
  display: inline-block;
  width: 10px;
  height: 10px;
  margin: 0 3px 0 8px;
  vertical-align: middle;
  border: 1px solid var(--jp-border-color1);
}

.jp-WorkbenchDiff-grid {
  border-collapse: separate;
  border-spacing: 1px;
}

.jp-WorkbenchDiff-grid th {
  font-family: var(--jp-code-font-family);
  font-size: 10px;
  font-weight: normal;
  color: var(--jp-ui-font-color1);
  text-align: center;
  min-width: 14px;
}

.jp-WorkbenchDiff-grid th.jp-WorkbenchDiff-kind {
  font-size: 11px;
  text-align: right;
  padding-right: 6px;
  white-space: nowrap;
}

.jp-WorkbenchDiff-grid td {
  padding: 0;
}

.jp-WorkbenchDiff-cell {
  display: block;
  width: 14px;
  height: 14px;
  min-width: 14px;
  padding: 0;
  margin: 0;
  border: 1px solid var(--jp-border-color1);
  cursor: pointer;
  box-sizing: border-box;
}

.jp-WorkbenchDiff-cell.jp-mod-first {
  outline: 3px solid var(--jp-ui-font-color0);
  outline-offset: -3px;
}

.jp-WorkbenchDiff-cell.jp-mod-picked {
  outline: 3px dotted var(--jp-brand-color1);
  outline-offset: -3px;
}

.jp-WorkbenchDiff-cell:focus-visible {
  outline: 3px solid var(--jp-brand-color1);
  outline-offset: 1px;
}

.jp-WorkbenchDiff-others {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 10px;
  margin: 2px 0 6px;
  font-family: var(--jp-code-font-family);
  font-size: 11px;
}

.jp-WorkbenchDiff-other {
  display: inline-flex;
  align-items: center;
  gap: 3px;
}

.jp-WorkbenchDiff-tokens {
  display: flex;
  flex-wrap: wrap;
  gap: 3px;
  margin: 2px 0 6px;
}

.jp-WorkbenchDiff-token {
  display: inline-flex;
  flex-direction: column;
  align-items: center;
  font-family: var(--jp-code-font-family);
  font-size: 11px;
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  padding: 1px 4px;
  border: 1px solid var(--jp-border-color1);
}

.jp-WorkbenchDiff-token.jp-mod-exceeds {
  border: 2px solid var(--jp-error-color1);
  font-weight: 600;
}

.jp-WorkbenchDiff-bar {
  display: block;
  width: 100%;
  height: 5px;
  margin-top: 2px;
}

.jp-WorkbenchDiff-details {
  border: 1px solid var(--jp-border-color1);
  background: var(--jp-layout-color1);
  padding: 4px 6px;
  margin: 4px 0;
}

.jp-WorkbenchDiff-scroll {
  max-height: 360px;
  overflow-y: auto;
}

.jp-WorkbenchDiff-table {
  border-collapse: collapse;
  font-family: var(--jp-code-font-family);
}

.jp-WorkbenchDiff-table th,
.jp-WorkbenchDiff-table td {
  border: 1px solid var(--jp-border-color2);
  padding: 1px 6px;
  text-align: left;
}

/* the error colour frames the number; the number itself sits on the theme's background */
.jp-WorkbenchDiff-num {
  background: var(--jp-layout-color0);
  color: var(--jp-ui-font-color1);
  padding: 0 3px;
}

.jp-WorkbenchDiff-table tr.jp-mod-exceeds td:first-child {
  color: var(--jp-error-color1);
}

.jp-WorkbenchDiff-table tr.jp-WorkbenchDiff-first {
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color0);
  font-weight: 600;
}

.jp-WorkbenchDiff-table tr.jp-mod-picked {
  outline: 2px solid var(--jp-brand-color1);
}
`,""]),r.d(o,{},{A:i})},70(e,o,r){var n=r(601),t=r.n(n),a=r(314),i=(r.n(a))()(t());i.push([e.id,`/* A widget output shown as its saved static view (src/fallback.ts) */
.jp-WorkbenchFallback-note {
  display: inline-block;
  margin: 0 0 4px;
  padding: 1px 6px;
  border: 1px dashed var(--jp-border-color1, #bdbdbd);
  border-radius: 3px;
  color: var(--jp-ui-font-color1, #1f1f1f);
  background: var(--jp-layout-color1, #ffffff);
  font-family: var(--jp-ui-font-family, sans-serif);
  font-size: var(--jp-ui-font-size0, 11px);
  font-style: italic;
}
`,""]),r.d(o,{},{A:i})},646(e,o,r){var n=r(601),t=r.n(n),a=r(314),i=(r.n(a))()(t());i.push([e.id,`/* Workbench side panel */
.jp-WorkbenchPanel {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  padding: 8px;
  overflow-y: auto;
}

.jp-WorkbenchPanel h2 {
  font-size: var(--jp-ui-font-size2);
  margin: 0;
}

.jp-WorkbenchPanel h3,
.jp-WorkbenchPanel h4 {
  font-size: var(--jp-ui-font-size1);
  text-transform: uppercase;
  margin: 12px 0 4px;
  color: var(--jp-ui-font-color2);
}

.jp-WorkbenchPanel-header,
.jp-WorkbenchPanel-row {
  display: flex;
  align-items: center;
  justify-content: space-between;
  gap: 4px;
}

.jp-WorkbenchPanel-model {
  border: 1px solid var(--jp-border-color2);
  border-radius: 3px;
  padding: 4px 6px;
  margin-bottom: 6px;
}

.jp-WorkbenchPanel-name {
  font-weight: 600;
  overflow-wrap: anywhere;
}

.jp-WorkbenchPanel-meta,
.jp-WorkbenchPanel-note,
.jp-WorkbenchPanel-revisions {
  color: var(--jp-ui-font-color2);
  overflow-wrap: anywhere;
}

.jp-WorkbenchPanel-revisions {
  margin: 2px 0 0;
  padding-left: 0;
  list-style: none;
  font-family: var(--jp-code-font-family);
}

.jp-WorkbenchPanel-revision {
  display: flex;
  align-items: center;
  justify-content: space-between;
  gap: 4px;
}

.jp-WorkbenchPanel-delete,
.jp-WorkbenchPanel-delete-revision {
  flex: none;
  color: var(--jp-error-color1);
}

.jp-WorkbenchPanel-delete-revision {
  padding: 0 6px;
  min-height: 0;
  height: 18px;
  line-height: 16px;
}

.jp-WorkbenchPanel-error {
  color: var(--jp-error-color1);
}

.jp-WorkbenchPanel-tutorials ul {
  margin: 0;
  padding-left: 16px;
}

.jp-WorkbenchPanel-tutorial {
  color: var(--jp-content-link-color);
  cursor: pointer;
}

/* Activation diff renderer: diff.css; tokens renderer: tokens.css */
`,""]),r.d(o,{},{A:i})},724(e,o,r){var n=r(601),t=r.n(n),a=r(314),i=(r.n(a))()(t());i.push([e.id,`/* Workbench side panel: what the second pass added (index.css holds the first rules). Colours
   only from JupyterLab's --jp-* variables, so the light and dark themes both read. */

.jp-WorkbenchPanel-actions {
  display: flex;
  flex: none;
  gap: 4px;
}

.jp-WorkbenchPanel-picker {
  flex: none;
  color: var(--jp-ui-font-color1);
}

.jp-WorkbenchPanel-gguf {
  margin: 2px 0 0;
  padding-left: 0;
  list-style: none;
  color: var(--jp-ui-font-color2);
  font-family: var(--jp-code-font-family);
  overflow-wrap: anywhere;
}

.jp-WorkbenchPanel-empty {
  color: var(--jp-ui-font-color1);
  border: 1px dashed var(--jp-border-color1);
  border-radius: 3px;
  padding: 2px 8px;
}

.jp-WorkbenchPanel-empty p {
  margin: 4px 0;
}

.jp-WorkbenchPanel-empty code {
  font-family: var(--jp-code-font-family);
  overflow-wrap: anywhere;
}

.jp-WorkbenchPanel-tutorials ul.jp-WorkbenchPanel-tiles {
  margin: 0;
  padding: 0;
  list-style: none;
}

.jp-WorkbenchPanel-tiles li {
  margin-bottom: 6px;
}

a.jp-WorkbenchPanel-tutorial {
  display: flex;
  gap: 8px;
  align-items: flex-start;
  padding: 4px 6px;
  border: 1px solid var(--jp-border-color2);
  border-radius: 3px;
  color: var(--jp-ui-font-color1);
  text-decoration: none;
}

a.jp-WorkbenchPanel-tutorial:hover {
  background: var(--jp-layout-color2);
}

a.jp-WorkbenchPanel-tutorial:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: 1px;
}

.jp-WorkbenchPanel-number {
  flex: none;
  width: 22px;
  height: 22px;
  line-height: 22px;
  border-radius: 50%;
  text-align: center;
  font-weight: 600;
  background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color0);
}

.jp-WorkbenchPanel-tile {
  display: flex;
  flex-direction: column;
  min-width: 0;
}

.jp-WorkbenchPanel-tileTitle {
  color: var(--jp-content-link-color);
  font-weight: 600;
}

.jp-WorkbenchPanel-description,
.jp-WorkbenchPanel-minutes {
  color: var(--jp-ui-font-color2);
}
`,""]),r.d(o,{},{A:i})},430(e,o,r){var n=r(601),t=r.n(n),a=r(314),i=(r.n(a))()(t());i.push([e.id,`/* The tokens renderer (src/tokens.ts). Text and page colours are JupyterLab's theme variables;
   the chip backgrounds are workbench/theme.py's CHIPS_LIGHT and CHIPS_DARK (a test keeps them
   equal): pastel behind dark text in light themes, deep tones behind light text in dark ones. */
.jp-WorkbenchTokens {
  --wb-tok-chip-0: #fde2e4;
  --wb-tok-chip-1: #dfe7fd;
  --wb-tok-chip-2: #dcebe5;
  --wb-tok-chip-3: #fff1c1;
  --wb-tok-chip-4: #e8dff5;
  --wb-tok-chip-5: #d2f5ec;
  --wb-tok-chip-6: #fce1c8;
  --wb-tok-chip-7: #dcecfb;
  --wb-tok-fg: var(--jp-ui-font-color1);
  --wb-tok-bg: var(--jp-layout-color0);
  --wb-tok-bg-alt: var(--jp-layout-color2);
  --wb-tok-border: var(--jp-border-color1);
  --wb-tok-error: var(--jp-error-color1);
  --wb-tok-ok: var(--jp-success-color1);

  color: var(--wb-tok-fg);
}

body[data-jp-theme-light='false'] .jp-WorkbenchTokens {
  --wb-tok-chip-0: #5a2a31;
  --wb-tok-chip-1: #2b3a63;
  --wb-tok-chip-2: #27473b;
  --wb-tok-chip-3: #56481a;
  --wb-tok-chip-4: #44335e;
  --wb-tok-chip-5: #1f4a42;
  --wb-tok-chip-6: #5a3a1c;
  --wb-tok-chip-7: #24425e;
}

.jp-WorkbenchTokens-tokens {
  line-height: 2.3em;
}

.jp-WorkbenchTokens-token {
  display: inline-block;
  position: relative;
  margin: 1px;
  padding: 0 3px;
  border: 1px solid transparent;
  border-radius: 3px;
  font-family: var(--jp-code-font-family);
  white-space: pre;
  line-height: 1.2em;
  text-align: center;
  vertical-align: top;
  color: var(--wb-tok-fg);
}

.jp-WorkbenchTokens-token sub {
  display: block;
  font-size: 9px;
  color: var(--wb-tok-fg);
}

.jp-WorkbenchTokens-token.jp-mod-special {
  background: var(--wb-tok-bg-alt) !important;
  border: 1px dashed var(--wb-tok-border);
  font-style: italic;
}

.jp-WorkbenchTokens-token.jp-mod-diff {
  border-bottom: 2px solid var(--wb-tok-error);
}

.jp-WorkbenchTokens-token.jp-mod-assistant {
  background: color-mix(in srgb, var(--wb-tok-ok) 25%, var(--wb-tok-bg)) !important;
  outline: 1px solid var(--wb-tok-ok);
}

.jp-WorkbenchTokens-token.jp-mod-other {
  background: var(--wb-tok-bg-alt) !important;
}

.jp-WorkbenchTokens-token.jp-mod-unscored {
  background: var(--wb-tok-bg) !important;
  border: 1px dashed var(--wb-tok-border);
}

.jp-WorkbenchTokens-token:focus-visible,
.jp-WorkbenchTokens-char:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: 1px;
}

/* a focused chip shows its details (what the tooltip holds) without a mouse */
.jp-WorkbenchTokens-token:focus::after,
.jp-WorkbenchTokens-char:focus::after {
  content: attr(data-details);
  position: absolute;
  left: 0;
  top: 100%;
  z-index: 5;
  margin-top: 2px;
  padding: 2px 5px;
  white-space: pre;
  font-size: 11px;
  font-style: normal;
  text-align: left;
  color: var(--wb-tok-fg);
  background: var(--wb-tok-bg);
  border: 1px solid var(--wb-tok-border);
  border-radius: 3px;
}

.jp-WorkbenchTokens-group {
  display: inline-block;
  vertical-align: top;
  margin: 1px;
  padding: 0 1px;
  border: 1px solid var(--wb-tok-border);
  border-radius: 4px;
  text-align: center;
}

.jp-WorkbenchTokens-char {
  display: block;
  position: relative;
  font-size: 14px;
  line-height: 1.3em;
}

.jp-WorkbenchTokens-gap {
  font-family: var(--jp-code-font-family);
  padding: 0 1px;
}

.jp-WorkbenchTokens-legend {
  display: flex;
  flex-wrap: wrap;
  gap: 6px;
  align-items: center;
  margin: 4px 0;
}

.jp-WorkbenchTokens-swatch {
  display: inline-block;
  padding: 0 5px;
  border-radius: 3px;
  font-family: var(--jp-code-font-family);
}

.jp-WorkbenchTokens-columns {
  display: flex;
  flex-wrap: wrap;
  gap: 16px;
  align-items: flex-start;
}

.jp-WorkbenchTokens-columns > div {
  flex: 1;
  min-width: 240px;
}

.jp-WorkbenchTokens-table {
  border-collapse: collapse;
  font-family: var(--jp-code-font-family);
}

.jp-WorkbenchTokens-table th,
.jp-WorkbenchTokens-table td {
  border: 1px solid var(--wb-tok-border);
  padding: 1px 6px;
  text-align: left;
}
`,""]),r.d(o,{},{A:i})},314(e){e.exports=function(e){var o=[];return o.toString=function(){return this.map(function(o){var r="",n=void 0!==o[5];return o[4]&&(r+="@supports (".concat(o[4],") {")),o[2]&&(r+="@media ".concat(o[2]," {")),n&&(r+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),r+=e(o),n&&(r+="}"),o[2]&&(r+="}"),o[4]&&(r+="}"),r}).join("")},o.i=function(e,r,n,t,a){"string"==typeof e&&(e=[[null,e,void 0]]);var i={};if(n)for(var p=0;p<this.length;p++){var l=this[p][0];null!=l&&(i[l]=!0)}for(var c=0;c<e.length;c++){var s=[].concat(e[c]);n&&i[s[0]]||(void 0!==a&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=a),r&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=r),t&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=t):s[4]="".concat(t)),o.push(s))}},o}},601(e){e.exports=function(e){return e[1]}},72(e){var o=[];function r(e){for(var r=-1,n=0;n<o.length;n++)if(o[n].identifier===e){r=n;break}return r}function n(e,n){for(var t={},a=[],i=0;i<e.length;i++){var p=e[i],l=n.base?p[0]+n.base:p[0],c=t[l]||0,s="".concat(l," ").concat(c);t[l]=c+1;var d=r(s),f={css:p[1],media:p[2],sourceMap:p[3],supports:p[4],layer:p[5]};if(-1!==d)o[d].references++,o[d].updater(f);else{var b=function(e,o){var r=o.domAPI(o);return r.update(e),function(o){o?(o.css!==e.css||o.media!==e.media||o.sourceMap!==e.sourceMap||o.supports!==e.supports||o.layer!==e.layer)&&r.update(e=o):r.remove()}}(f,n);n.byIndex=i,o.splice(i,0,{identifier:s,updater:b,references:1})}a.push(s)}return a}e.exports=function(e,t){var a=n(e=e||[],t=t||{});return function(e){e=e||[];for(var i=0;i<a.length;i++){var p=r(a[i]);o[p].references--}for(var l=n(e,t),c=0;c<a.length;c++){var s=r(a[c]);0===o[s].references&&(o[s].updater(),o.splice(s,1))}a=l}}},659(e){var o={};e.exports=function(e,r){var n=function(e){if(void 0===o[e]){var r=document.querySelector(e);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(e){r=null}o[e]=r}return o[e]}(e);if(!n)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");n.appendChild(r)}},540(e){e.exports=function(e){var o=document.createElement("style");return e.setAttributes(o,e.attributes),e.insert(o,e.options),o}},56(e,o,r){e.exports=function(e){var o=r.nc;o&&e.setAttribute("nonce",o)}},825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=e.insertStyleElement(e);return{update:function(r){var n,t,a;n="",r.supports&&(n+="@supports (".concat(r.supports,") {")),r.media&&(n+="@media ".concat(r.media," {")),(t=void 0!==r.layer)&&(n+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),n+=r.css,t&&(n+="}"),r.media&&(n+="}"),r.supports&&(n+="}"),(a=r.sourceMap)&&"u">typeof btoa&&(n+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(a))))," */")),e.styleTagTransform(n,o,e.options)},remove:function(){var e;null===(e=o).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,o){if(o.styleSheet)o.styleSheet.cssText=e;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(e))}}},851(e,o,r){var n=r(72),t=r.n(n),a=r(825),i=r.n(a),p=r(659),l=r.n(p),c=r(56),s=r.n(c),d=r(540),f=r.n(d),b=r(113),h=r.n(b),u=r(646),k={};k.styleTagTransform=h(),k.setAttributes=s(),k.insert=l().bind(null,"head"),k.domAPI=i(),k.insertStyleElement=f(),t()(u.A,k),u.A&&u.A.locals&&u.A.locals;var j=r(329),x={};x.styleTagTransform=h(),x.setAttributes=s(),x.insert=l().bind(null,"head"),x.domAPI=i(),x.insertStyleElement=f(),t()(j.A,x),j.A&&j.A.locals&&j.A.locals;var v=r(430),g={};g.styleTagTransform=h(),g.setAttributes=s(),g.insert=l().bind(null,"head"),g.domAPI=i(),g.insertStyleElement=f(),t()(v.A,g),v.A&&v.A.locals&&v.A.locals;var m=r(70),y={};y.styleTagTransform=h(),y.setAttributes=s(),y.insert=l().bind(null,"head"),y.domAPI=i(),y.insertStyleElement=f(),t()(m.A,y),m.A&&m.A.locals&&m.A.locals;var w=r(724),W={};W.styleTagTransform=h(),W.setAttributes=s(),W.insert=l().bind(null,"head"),W.domAPI=i(),W.insertStyleElement=f(),t()(w.A,W),w.A&&w.A.locals&&w.A.locals}}]);