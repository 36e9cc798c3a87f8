"use strict";(self.rspackChunk_workbench_jupyterlab=self.rspackChunk_workbench_jupyterlab||[]).push([[700],{646(e,o,r){var n=r(601),t=r.n(n),a=r(314),i=(r.n(a))()(t());i.push([e.id,`/* Workbench side panel */
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

/* Activation diff renderer */
.jp-WorkbenchDiff {
  font-size: var(--jp-ui-font-size1);
  overflow-x: auto;
}

.jp-WorkbenchDiff-verdict {
  margin: 2px 0 6px;
}

.jp-WorkbenchDiff-verdict.jp-mod-diverged {
  color: var(--jp-error-color1);
  font-weight: 600;
}

.jp-WorkbenchDiff-strip {
  display: flex;
  gap: 1px;
  height: 26px;
  max-width: 100%;
}

.jp-WorkbenchDiff-cell {
  flex: 1 1 0;
  min-width: 3px;
  max-width: 28px;
  cursor: pointer;
  box-sizing: border-box;
}

.jp-WorkbenchDiff-cell.jp-mod-exceeds {
  border-bottom: 3px solid var(--jp-error-color1);
}

.jp-WorkbenchDiff-cell.jp-mod-first {
  outline: 2px solid var(--jp-ui-font-color0);
  outline-offset: -2px;
}

.jp-WorkbenchDiff-legend {
  color: var(--jp-ui-font-color2);
  margin: 2px 0 6px;
}

.jp-WorkbenchDiff-swatch {
  display: inline-block;
  width: 10px;
  height: 10px;
  margin: 0 3px 0 8px;
  vertical-align: middle;
  border: 1px solid var(--jp-border-color2, #ccc);
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

.jp-WorkbenchDiff-table tr.jp-mod-exceeds td:first-child {
  color: var(--jp-error-color1);
}

.jp-WorkbenchDiff-table tr.jp-WorkbenchDiff-first {
  background: var(--jp-error-color3, #fde0dc);
  font-weight: 600;
}

.jp-WorkbenchDiff-table tr.jp-mod-picked {
  outline: 2px solid var(--jp-brand-color1);
}

/* Tokens renderer */
.jp-WorkbenchTokens-tokens {
  line-height: 2.3em;
}

.jp-WorkbenchTokens-token {
  display: inline-block;
  margin: 1px;
  padding: 0 3px;
  border-radius: 3px;
  font-family: var(--jp-code-font-family);
  white-space: pre;
  line-height: 1.2em;
  text-align: center;
  vertical-align: top;
  color: #111;
}

.jp-WorkbenchTokens-token sub {
  display: block;
  font-size: 9px;
  color: #555;
}

.jp-WorkbenchTokens-token.jp-mod-special {
  background: #eee !important;
  border: 1px dashed #888;
  font-style: italic;
}

.jp-WorkbenchTokens-token.jp-mod-diff {
  border-bottom: 2px solid #d32f2f;
}

.jp-WorkbenchTokens-token.jp-mod-assistant {
  background: #b9e4c0 !important;
  outline: 1px solid #2e7d32;
}

.jp-WorkbenchTokens-token.jp-mod-other {
  opacity: 0.55;
}

.jp-WorkbenchTokens-columns {
  display: flex;
  gap: 16px;
  align-items: flex-start;
}

.jp-WorkbenchTokens-columns > div {
  flex: 1;
  min-width: 0;
}

.jp-WorkbenchTokens-table {
  border-collapse: collapse;
  font-family: var(--jp-code-font-family);
}

.jp-WorkbenchTokens-table th,
.jp-WorkbenchTokens-table td {
  border: 1px solid var(--jp-border-color2);
  padding: 1px 6px;
}
`,""]),r.d(o,{},{A:i})},314(e){e.exports=function(e){var o=[];return o.toString=function(){return this.map(function(o){var r="",n=void 0!==o[5];return o[4]&&(r+="@supports (".concat(o[4],") {")),o[2]&&(r+="@media ".concat(o[2]," {")),n&&(r+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),r+=e(o),n&&(r+="}"),o[2]&&(r+="}"),o[4]&&(r+="}"),r}).join("")},o.i=function(e,r,n,t,a){"string"==typeof e&&(e=[[null,e,void 0]]);var i={};if(n)for(var p=0;p<this.length;p++){var c=this[p][0];null!=c&&(i[c]=!0)}for(var l=0;l<e.length;l++){var s=[].concat(e[l]);n&&i[s[0]]||(void 0!==a&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=a),r&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=r),t&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=t):s[4]="".concat(t)),o.push(s))}},o}},601(e){e.exports=function(e){return e[1]}},72(e){var o=[];function r(e){for(var r=-1,n=0;n<o.length;n++)if(o[n].identifier===e){r=n;break}return r}function n(e,n){for(var t={},a=[],i=0;i<e.length;i++){var p=e[i],c=n.base?p[0]+n.base:p[0],l=t[c]||0,s="".concat(c," ").concat(l);t[c]=l+1;var d=r(s),f={css:p[1],media:p[2],sourceMap:p[3],supports:p[4],layer:p[5]};if(-1!==d)o[d].references++,o[d].updater(f);else{var h=function(e,o){var r=o.domAPI(o);return r.update(e),function(o){o?(o.css!==e.css||o.media!==e.media||o.sourceMap!==e.sourceMap||o.supports!==e.supports||o.layer!==e.layer)&&r.update(e=o):r.remove()}}(f,n);n.byIndex=i,o.splice(i,0,{identifier:s,updater:h,references:1})}a.push(s)}return a}e.exports=function(e,t){var a=n(e=e||[],t=t||{});return function(e){e=e||[];for(var i=0;i<a.length;i++){var p=r(a[i]);o[p].references--}for(var c=n(e,t),l=0;l<a.length;l++){var s=r(a[l]);0===o[s].references&&(o[s].updater(),o.splice(s,1))}a=c}}},659(e){var o={};e.exports=function(e,r){var n=function(e){if(void 0===o[e]){var r=document.querySelector(e);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(e){r=null}o[e]=r}return o[e]}(e);if(!n)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");n.appendChild(r)}},540(e){e.exports=function(e){var o=document.createElement("style");return e.setAttributes(o,e.attributes),e.insert(o,e.options),o}},56(e,o,r){e.exports=function(e){var o=r.nc;o&&e.setAttribute("nonce",o)}},825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=e.insertStyleElement(e);return{update:function(r){var n,t,a;n="",r.supports&&(n+="@supports (".concat(r.supports,") {")),r.media&&(n+="@media ".concat(r.media," {")),(t=void 0!==r.layer)&&(n+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),n+=r.css,t&&(n+="}"),r.media&&(n+="}"),r.supports&&(n+="}"),(a=r.sourceMap)&&"u">typeof btoa&&(n+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(a))))," */")),e.styleTagTransform(n,o,e.options)},remove:function(){var e;null===(e=o).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,o){if(o.styleSheet)o.styleSheet.cssText=e;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(e))}}},959(e,o,r){var n=r(72),t=r.n(n),a=r(825),i=r.n(a),p=r(659),c=r.n(p),l=r(56),s=r.n(l),d=r(540),f=r.n(d),h=r(113),u=r.n(h),b=r(646),j={};j.styleTagTransform=u(),j.setAttributes=s(),j.insert=c().bind(null,"head"),j.domAPI=i(),j.insertStyleElement=f(),t()(b.A,j),b.A&&b.A.locals&&b.A.locals}}]);