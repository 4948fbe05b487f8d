package tlsedge

import (
	"bytes"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
)

const headerHSTS = "Strict-Transport-Security"

// HSTS returns a stage (edge.Stage) that sets Strict-Transport-Security to
// value on every response to a TLS connection, cached or not, replacing any
// the origin sent: the edge owns the public scheme. Never on plain HTTP,
// where RFC 6797 §7.2 says the field must not be sent (and is ignored).
// Put it outside the cache so that stored responses do not carry it.
func HSTS(value string) func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			next(ctx)
			if ctx.IsTLS() {
				ctx.Response.Header.Set(headerHSTS, value)
			}
		}
	}
}

// FetchFunc sends a request the edge makes itself to an origin.
type FetchFunc = func(req *fasthttp.Request, resp *fasthttp.Response) error

// HTTPS returns fetch with each request's URI scheme set to https, for the
// requests the edge makes itself on behalf of a TLS listener's clients (the
// cache's background refreshes): upstream.Rewrite takes X-Forwarded-Proto
// from that scheme, so a refreshed response is built for https clients
// like the one it replaces (a catalogue page's next and previous links).
func HTTPS(fetch FetchFunc) FetchFunc {
	return func(req *fasthttp.Request, resp *fasthttp.Response) error {
		req.URI().SetScheme("https")
		return fetch(req, resp)
	}
}

var badHost = server.NewProblem(fasthttp.StatusBadRequest, "bad_request", "missing or invalid Host")

// Redirect returns the handler of the plain HTTP listener: every request,
// whatever its method, gets 308 Permanent Redirect (RFC 9110 §15.4.9: unlike
// 301, the client repeats the same method and body) to the same path and
// query over https on httpsPort (left out when 443).
//
// The host is the one the client asked for (the request's Host, or an
// absolute-form target's host), so the edge needs no name of its own; it
// must be a syntactically valid DNS name or IP address, else the answer is
// 400 and no Location is built. A client can thus only be sent to the host
// it already named, on this edge's https port: not an open redirect.
func Redirect(httpsPort string) fasthttp.RequestHandler {
	suffix := ""
	if httpsPort != "443" {
		suffix = ":" + httpsPort
	}
	return func(ctx *fasthttp.RequestCtx) {
		host, ok := validHost(requestHost(ctx))
		if !ok {
			badHost.Write(ctx)
			return
		}
		loc := make([]byte, 0, 64)
		loc = append(loc, "https://"...)
		loc = append(loc, host...)
		loc = append(loc, suffix...)
		// RequestURI: the path, escaped, and the query; never a fragment.
		loc = append(loc, ctx.URI().RequestURI()...)
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, loc)
		ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
	}
}

// requestHost returns the authority the client asked for, as it sent it:
// an absolute-form target's (RFC 9112 §3.2.2: it wins over Host), else the
// Host field. Not fasthttp's parsed URI host, which drops userinfo and so
// would turn "shop.example@evil.example" into a valid-looking evil.example.
func requestHost(ctx *fasthttp.RequestCtx) string {
	target := ctx.Request.Header.RequestURI()
	if len(target) > 0 && target[0] != '/' {
		if _, rest, ok := bytes.Cut(target, []byte("://")); ok {
			if end := bytes.IndexAny(rest, "/?#"); end >= 0 {
				rest = rest[:end]
			}
			return string(rest)
		}
	}
	return string(ctx.Request.Header.Host())
}

// validHost returns the host part of a Host field value (RFC 9110 §7.2:
// uri-host [":" port]) ready for a URL, lower-cased, if it is an IP address
// or a DNS name (RFC 1123 labels); the port, if any, must be digits and is
// dropped.
func validHost(hostport string) (string, bool) {
	host, port := hostport, ""
	if rest, ok := strings.CutPrefix(hostport, "["); ok {
		// An IPv6 literal (RFC 3986 §3.2.2).
		var found bool
		if host, port, found = strings.Cut(rest, "]"); !found {
			return "", false
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", false
		}
		if port != "" {
			if port, ok = strings.CutPrefix(port, ":"); !ok || !digits(port) {
				return "", false
			}
		}
		return "[" + ip.String() + "]", true
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
		if !digits(port) {
			return "", false
		}
	}
	if host == "" {
		return "", false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Is4() {
			return "", false // IPv6 only in brackets
		}
		return ip.String(), true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if len(host) > 253 {
		return "", false
	}
	for label := range strings.SplitSeq(host, ".") {
		if !validLabel(label) {
			return "", false
		}
	}
	return host, true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
