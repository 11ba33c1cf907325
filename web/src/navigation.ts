/** Moves to another page of the app without reloading; main.ts renders it on the popstate event. */
export function navigate(path: string): void {
  history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}
