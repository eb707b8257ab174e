// MathJax 3 for the site: the guides' formulas (pymdownx.arithmatex writes \( \) and \[ \])
// and the notebooks' markdown cells ($ and $$, as Jupyter writes them); code is skipped.
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
  },
  options: { skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"] },
};
document$.subscribe(() => { if (MathJax.typesetPromise) MathJax.typesetPromise(); });
