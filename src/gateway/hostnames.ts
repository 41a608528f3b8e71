// Hostname rules shared by attachment and matching.

/**
 * Gateway API wildcard: "*.example.com" matches "foo.example.com" and "foo.bar.example.com" but not
 * "example.com" (gateway_types.go Listener.Hostname, httproute_types.go HTTPRouteSpec.Hostnames: the
 * wildcard label matches one or more labels).
 */
export function gatewayHostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const suffix = pattern.slice(1); // ".example.com"
  return host.length > suffix.length && host.endsWith(suffix);
}

/**
 * Ingress wildcard: "*.foo.com" matches "bar.foo.com" but not "baz.bar.foo.com" nor "foo.com" (the
 * Ingress documentation, "Hostname wildcards": the wildcard covers exactly one DNS label).
 */
export function ingressHostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const suffix = pattern.slice(1);
  if (!(host.length > suffix.length && host.endsWith(suffix))) return false;
  return !host.slice(0, host.length - suffix.length).includes('.');
}

/**
 * Do a listener hostname and a route's hostnames intersect (HTTPRouteSpec.Hostnames: a route hostname
 * matching the listener's, or a listener hostname matching a route wildcard)? No hostname on either side
 * matches everything.
 */
export function hostnamesIntersect(listener: string | undefined, route: string[]): boolean {
  if (listener === undefined || route.length === 0) return true;
  return route.some((h) => h === listener || gatewayHostMatches(listener, h) || gatewayHostMatches(h, listener));
}

/** The host of a Host header, lowercased, without a port. */
export function requestHost(h: string): string {
  const s = h.trim().toLowerCase();
  const colon = s.lastIndexOf(':');
  return colon >= 0 && /^\d+$/.test(s.slice(colon + 1)) ? s.slice(0, colon) : s;
}
