// Records the page's Content-Security-Policy violations (the policy is in
// Trunk.toml), which scripts/page_e2e.py requires to be none. A classic
// script in <head>, before everything else: a module would run only after
// the whole document was parsed, and miss what its markup broke.
window.genlabCspViolations = [];
window.addEventListener('securitypolicyviolation', (e) => {
  const where = e.sourceFile ? ` at ${e.sourceFile}:${e.lineNumber}` : '';
  window.genlabCspViolations.push(`${e.effectiveDirective} refused ${e.blockedURI || 'an inline resource'}${where}`);
});
