// Package tlsedge terminates TLS on the edge's public listener: a
// certificate and key read from files, swapped atomically on Reload so that
// new connections get the new pair while established ones carry on; TLS 1.2
// and 1.3 only, with forward-secret AEAD suites; Strict-Transport-Security on
// TLS responses; and the plain listener that sends clients to https.
package tlsedge

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync/atomic"
)

// Certificate is a certificate chain and its key, read from two PEM files,
// which Reload may replace while connections are served.
type Certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// Load reads the pair from certFile (the certificate chain, leaf first) and
// keyFile (its private key). The error says which file could not be read,
// or why the two do not make a pair.
func Load(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads both files again and, only if they make a valid pair, serves
// it to connections made from now on. On error the previous pair stays.
// Connections already established keep the certificate they were made
// with: TLS checks it at the handshake only.
func (c *Certificate) Reload() error {
	pair, err := read(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.current.Store(pair)
	return nil
}

// Leaf is the certificate being served (its subject and expiry are worth a
// log line).
func (c *Certificate) Leaf() *x509.Certificate { return c.current.Load().Leaf }

func read(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	// X509KeyPair checks that the key belongs to the leaf certificate and
	// fills in Leaf.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &pair, nil
}

// cipherSuites are the TLS 1.2 suites offered: ECDHE key exchange (forward
// secrecy) with an AEAD cipher only, as in Mozilla's "intermediate"
// profile. TLS 1.3's suites are all AEAD and not configurable.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Config returns the server configuration: TLS 1.2 at least (RFC 8996
// deprecates 1.0 and 1.1), the suites above, HTTP/1.1 by ALPN (fasthttp
// speaks nothing else), and the current certificate looked up at each
// handshake, so that a Reload applies to the next connection.
func (c *Certificate) Config() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		NextProtos:   []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// Listener returns ln with TLS on each accepted connection. The handshake
// runs on the connection's first read, in the goroutine serving it, under
// the server's read deadline; a client that never completes it holds up
// nobody else.
func (c *Certificate) Listener(ln net.Listener) net.Listener {
	return tls.NewListener(ln, c.Config())
}
