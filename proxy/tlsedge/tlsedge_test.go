package tlsedge_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/tlsedge"
	"edgeshop/proxy/upstream"
)

// pair writes a fresh self-signed certificate for name (and 127.0.0.1)
// and its key into dir, returning the file names and the certificate.
func pair(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// serve runs h on a loopback listener, through TLS when c is not nil.
func serve(t *testing.T, c *tlsedge.Certificate, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		ln = c.Listener(ln)
	}
	srv := &fasthttp.Server{Handler: h, ReadTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, cfg)
}

func TestHandshakeVersionsAndSuites(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := pair(t, dir, "edge.test")
	c, err := tlsedge.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c, func(ctx *fasthttp.RequestCtx) {})
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		accept bool
	}{
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2", &tls.Config{MaxVersion: tls.VersionTLS12}, true},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 CBC suite", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.Clone()
			cfg.RootCAs, cfg.ServerName = roots, "edge.test"
			conn, err := dial(addr, cfg)
			if !tc.accept {
				if err == nil {
					conn.Close()
					t.Fatalf("handshake succeeded with %s", tls.VersionName(conn.ConnectionState().Version))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if p := conn.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
				t.Errorf("ALPN %q", p)
			}
		})
	}
}

func TestReloadSwapsForNewConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := pair(t, dir, "edge.test")
	c, err := tlsedge.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	served := func(conn *tls.Conn) *x509.Certificate { return conn.ConnectionState().PeerCertificates[0] }
	insecure := &tls.Config{InsecureSkipVerify: true} // the test compares certificates itself

	old, err := dial(addr, insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if !served(old).Equal(first) {
		t.Fatal("first connection did not get the first certificate")
	}

	// A bad pair on disk: Reload fails, the first pair stays.
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil {
		t.Fatal("Reload accepted a bad key")
	}
	conn, err := dial(addr, insecure)
	if err != nil {
		t.Fatal(err)
	}
	if !served(conn).Equal(first) {
		t.Error("a failed reload changed the certificate")
	}
	conn.Close()

	_, _, second := pair(t, dir, "edge.test") // overwrites both files
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	conn, err = dial(addr, insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !served(conn).Equal(second) {
		t.Error("new connection did not get the reloaded certificate")
	}
	if c.Leaf().SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Error("Leaf is not the reloaded certificate")
	}
	// The connection made before the reload still carries requests.
	if _, err := io.WriteString(old, "GET / HTTP/1.1\r\nHost: edge.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(old), nil)
	if err != nil {
		t.Fatalf("old connection after reload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("old connection: %d", resp.StatusCode)
	}
}

func TestHSTSOnlyOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := pair(t, dir, "edge.test")
	c, err := tlsedge.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	h := tlsedge.HSTS("max-age=600")(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Strict-Transport-Security", "max-age=1") // the origin's, replaced
	})
	for _, tc := range []struct {
		name string
		tls  bool
		want string
	}{{"tls", true, "max-age=600"}, {"plain: the stage adds nothing", false, "max-age=1"}} {
		t.Run(tc.name, func(t *testing.T) {
			var certs *tlsedge.Certificate
			if tc.tls {
				certs = c
			}
			addr := serve(t, certs, h)
			resp := rawRequest(t, addr, tc.tls, "GET / HTTP/1.1\r\nHost: edge.test\r\n\r\n")
			if got := resp.Header.Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("Strict-Transport-Security %q, want %q", got, tc.want)
			}
		})
	}
}

// rawRequest writes req as is on a new connection and reads the response.
func rawRequest(t *testing.T, addr string, overTLS bool, req string) *http.Response {
	t.Helper()
	var conn net.Conn
	var err error
	if overTLS {
		conn, err = dial(addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestForwardedProto checks upstream.Rewrite's X-Forwarded-Proto on a real
// connection: https exactly when the connection is TLS, whatever the
// target or the client's own field says.
func TestForwardedProto(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := pair(t, dir, "edge.test")
	c, err := tlsedge.Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		upstream.Rewrite(&ctx.Request, netip.MustParseAddr("127.0.0.1"))
		ctx.Response.Header.Set("X-Seen-Proto", string(ctx.Request.Header.Peek("X-Forwarded-Proto")))
		ctx.Response.Header.Set("X-Seen-Target", string(ctx.Request.Header.RequestURI()))
	}
	tlsAddr, plainAddr := serve(t, c, handler), serve(t, nil, handler)
	for _, tc := range []struct {
		name, target string
	}{
		{"origin form", "/p?q=1"},
		{"absolute form https", "https://edge.test/p?q=1"},
		{"absolute form http", "http://edge.test/p?q=1"},
	} {
		for _, overTLS := range []bool{true, false} {
			want, addr := "http", plainAddr
			if overTLS {
				want, addr = "https", tlsAddr
			}
			t.Run(tc.name+" "+want, func(t *testing.T) {
				resp := rawRequest(t, addr, overTLS, "GET "+tc.target+" HTTP/1.1\r\nHost: edge.test\r\nX-Forwarded-Proto: spoofed\r\n\r\n")
				if got := resp.Header.Get("X-Seen-Proto"); got != want {
					t.Errorf("X-Forwarded-Proto %q, want %q", got, want)
				}
				if got := resp.Header.Get("X-Seen-Target"); !strings.HasSuffix(got, "/p?q=1") {
					t.Errorf("target became %q", got)
				}
			})
		}
	}
	// A request the edge makes itself for https clients (a cache refresh).
	var req fasthttp.Request
	req.SetRequestURI("/p")
	req.Header.SetHost("edge.test")
	var resp fasthttp.Response
	if err := tlsedge.HTTPS(func(req *fasthttp.Request, _ *fasthttp.Response) error {
		upstream.Rewrite(req, netip.Addr{})
		return nil
	})(&req, &resp); err != nil {
		t.Fatal(err)
	}
	if got := string(req.Header.Peek("X-Forwarded-Proto")); got != "https" {
		t.Errorf("edge's own request for https clients: X-Forwarded-Proto %q", got)
	}
}

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		name, port, request string
		status              int
		location            string
	}{
		{"host and query", "8443", "GET /api/products/?page=2 HTTP/1.1\r\nHost: shop.example\r\n\r\n", 308, "https://shop.example:8443/api/products/?page=2"},
		{"default port left out, client port dropped", "443", "GET / HTTP/1.1\r\nHost: Shop.Example:80\r\n\r\n", 308, "https://shop.example/"},
		{"POST keeps its method (308)", "443", "POST /auth/jwt/create/ HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 2\r\n\r\n{}", 308, "https://shop.example/auth/jwt/create/"},
		{"IPv4", "8443", "GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", 308, "https://127.0.0.1:8443/x"},
		{"IPv6", "8443", "GET /x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 308, "https://[::1]:8443/x"},
		{"absolute-form target's host", "443", "GET http://shop.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n", 308, "https://shop.example/x"},
		{"path that looks like a host", "443", "GET //evil.example/x HTTP/1.1\r\nHost: shop.example\r\n\r\n", 308, "https://shop.example/"},
		{"no Host", "443", "GET / HTTP/1.0\r\n\r\n", 400, ""},
		{"userinfo-like Host", "443", "GET / HTTP/1.1\r\nHost: shop.example@evil.example\r\n\r\n", 400, ""},
		{"userinfo in an absolute-form target", "443", "GET http://shop.example@evil.example/ HTTP/1.1\r\nHost: shop.example\r\n\r\n", 400, ""},
		{"Host with a path", "443", "GET / HTTP/1.1\r\nHost: evil.example/x\r\n\r\n", 400, ""},
		{"Host with a bad port", "443", "GET / HTTP/1.1\r\nHost: shop.example:x\r\n\r\n", 400, ""},
		{"bare IPv6", "443", "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400, ""},
		{"underscore", "443", "GET / HTTP/1.1\r\nHost: a_b.example\r\n\r\n", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, nil, tlsedge.Redirect(tc.port))
			resp := rawRequest(t, addr, false, tc.request)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			loc := resp.Header.Get("Location")
			if tc.location == "" {
				if loc != "" {
					t.Errorf("Location %q on a refusal", loc)
				}
				return
			}
			if tc.name == "path that looks like a host" {
				// fasthttp may normalise the path; the host must stay ours.
				if !strings.HasPrefix(loc, "https://shop.example/") {
					t.Errorf("Location %q", loc)
				}
				return
			}
			if loc != tc.location {
				t.Errorf("Location %q, want %q", loc, tc.location)
			}
		})
	}
}
