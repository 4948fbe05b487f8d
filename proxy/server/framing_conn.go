package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
)

// errLineEnding is what a connection's Read returns once the client sent a
// header block line that does not end in CRLF: fasthttp passes it to the
// ErrorHandler, which answers 400 bad_framing and closes the connection.
var errLineEnding = errors.New("header block line not ended by CRLF")

// strictListener hands fasthttp connections that check line endings as the
// bytes arrive. fasthttp itself tolerates a bare LF ending the request line
// (and keeps no trace of it for the handler to see), and waits for CRLF CRLF
// after a block ended by LF LF until the read timeout; RFC 9112 §2.2 lets a
// server accept bare LF, but a front end and a back end that disagree on
// line endings are a smuggling vector, so the edge refuses them at once.
type strictListener struct {
	net.Listener
	lot *lot // parks idle connections; nil: off
}

// StrictLineEndings wraps ln so that every request line, header field line
// and trailer field line its connections receive must end in CRLF (RFC 9112
// §2.2); the first one that does not ends the connection with 400
// bad_framing. Serve applies it to every listener it serves.
func StrictLineEndings(ln net.Listener) net.Listener {
	return strictLineEndings(ln, nil)
}

func strictLineEndings(ln net.Listener, l *lot) net.Listener {
	if sl, ok := ln.(strictListener); ok {
		sl.lot = l
		return sl
	}
	return strictListener{Listener: ln, lot: l}
}

func (l strictListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// fasthttp recognises TLS connections by these two methods
	// (ctx.IsTLS, X-Forwarded-Proto): keep them visible.
	if tc, ok := c.(tlsConn); ok {
		return &strictTLSConn{strictConn: strictConn{Conn: c}, tls: tc}, nil
	}
	sc := &strictConn{Conn: c, park: l.lot.parkingFor(c), lazy: true}
	sc.held.Store(newHeldWrites(c))
	return sc, nil
}

type tlsConn interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// strictConn checks the bytes fasthttp reads, in place: no copy, no
// allocation after the connection's own. Only header blocks and chunk
// framing are looked at; a Content-Length body or chunk data is skipped
// by counting.
type strictConn struct {
	net.Conn
	scan lineScanner
	err  error      // sticky once a line ending was refused
	park *parkState // nil: the connection never parks (see park.go)
	// lazy: deadlines are deferred (see deadline.go); not for TLS.
	lazy   bool
	rd, wd lazyDeadline
	// held: writes held for the next read (see wait.go); nil: off (TLS,
	// a pipelining client), or parked. It is an atomic pointer because a
	// parked connection drops it (the lot's goroutine serves the
	// connection again and makes it anew) while fasthttp's Shutdown may
	// close the connection from another goroutine.
	held atomic.Pointer[heldWrites]
	// pipelines: the client showed pipelining (see notePipelining); a
	// woken connection then gets no write-then-wait state again.
	pipelines bool
}

// Read delivers the bytes before a refused line ending together with
// errLineEnding; fasthttp has already been given every byte of the
// requests before it, so those are answered first, in order. (A bare LF or
// CR where a kept-alive connection's next request should start, with
// nothing of that request before it, closes the connection without an
// answer: fasthttp treats an error before a request's first byte as the
// client going away.)
func (c *strictConn) Read(p []byte) (int, error) {
	h := c.held.Load()
	if h != nil && h.pending.Load() {
		if err := c.sendHeldAndWait(h); err != nil {
			return 0, err
		}
	}
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.connRead(p)
	if n > 0 {
		starts, atStart := c.scan.starts, c.scan.parkable()
		if bad := c.scan.scan(p[:n]); bad >= 0 {
			c.err = errLineEnding
			return bad, c.err
		}
		if h != nil {
			c.notePipelining(h, starts, atStart)
		}
	}
	if c.park != nil {
		return c.parkRead(n, err)
	}
	return n, err
}

type strictTLSConn struct {
	strictConn
	tls tlsConn
}

func (c *strictTLSConn) Handshake() error                     { return c.tls.Handshake() }
func (c *strictTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// lineScanner follows the framing of the requests on one connection (RFC
// 9112 §6.3) to know where each header block is, and checks every line of
// it. It agrees with fasthttp on where every request fasthttp accepts ends;
// for a request whose framing fasthttp or refuseAmbiguousFraming refuse
// (both Content-Length and Transfer-Encoding, a duplicate or malformed
// Content-Length, an unknown coding, obsolete line folding, a broken
// chunk) the connection is closed after the answer, so the scanner stops
// following it (passive) rather than guess.
type lineScanner struct {
	state   uint8
	cr      bool  // the byte before was CR: the next must be LF
	lineLen int   // bytes of the current line so far, CR excluded
	left    int64 // Content-Length body or chunk data bytes still to come

	// Within a header block.
	requestLine bool
	inValue     bool
	field       uint8    // fieldOther, fieldLength or fieldCoding for the current line
	name        [17]byte // the current field name, lower case, while it may still be one we want
	val         [20]byte // the current Content-Length or Transfer-Encoding value
	valLen      int
	length      int64
	hasLength   bool
	chunked     bool
	hasCoding   bool

	// Within a chunk-size line.
	digits int

	// starts counts the requests begun (their first byte seen).
	starts int
}

const (
	stStart     = iota // before a request: its first byte, or empty lines ahead of it (§2.2)
	stHeader           // in the header block, request line included
	stBody             // in a Content-Length body
	stChunkSize        // in a chunk-size line
	stChunkData        // in chunk data
	stChunkCR          // the CR after chunk data
	stChunkLF          // the LF after chunk data
	stTrailer          // in the trailer section
	stPassive          // the request will be refused and the connection closed
)

const (
	fieldOther = iota
	fieldLength
	fieldCoding
)

var (
	nameLength = []byte("content-length")
	nameCoding = []byte("transfer-encoding")
)

// scan checks b, the next bytes of the connection, and returns the index
// of the first byte that breaks a line ending (a bare LF, or what follows
// a bare CR), or -1.
func (s *lineScanner) scan(b []byte) int {
	i := 0
	for i < len(b) {
		switch s.state {
		case stPassive:
			return -1
		case stBody:
			n := int64(len(b) - i)
			if n >= s.left {
				i += int(s.left)
				s.left = 0
				s.state = stStart
			} else {
				s.left -= n
				i = len(b)
			}
		case stChunkData:
			n := int64(len(b) - i)
			if n >= s.left {
				i += int(s.left)
				s.left = 0
				s.state = stChunkCR
			} else {
				s.left -= n
				i = len(b)
			}
		case stChunkCR, stChunkLF:
			want := byte('\r')
			if s.state == stChunkLF {
				want = '\n'
			}
			if b[i] != want {
				s.state = stPassive // fasthttp: "cannot find crlf at the end of chunk"
				return -1
			}
			i++
			if s.state == stChunkCR {
				s.state = stChunkLF
			} else {
				s.state = stChunkSize
				s.digits, s.left = 0, 0
			}
		case stChunkSize:
			i = s.chunkSize(b, i)
		case stStart, stHeader, stTrailer:
			var bad bool
			i, bad = s.line(b, i)
			if bad {
				return i
			}
		}
	}
	return -1
}

// line scans b from i within a header block or trailer section and
// returns where it stopped and whether b[i] breaks a line ending.
func (s *lineScanner) line(b []byte, i int) (int, bool) {
	if s.cr {
		if b[i] != '\n' {
			return i, true // bare CR
		}
		s.cr = false
		return s.endLine(i + 1), false
	}
	c := b[i]
	switch {
	case c == '\n':
		return i, true // bare LF
	case c == '\r':
		s.cr = true
		return i + 1, false
	case s.state == stStart:
		s.state = stHeader
		s.requestLine = true
		s.starts++
	}
	if s.lineLen == 0 && !s.requestLine && (c == ' ' || c == '\t') && s.state == stHeader {
		s.state = stPassive // obsolete line folding (§5.2): refused
		return len(b), false
	}
	if s.state == stHeader && !s.requestLine && !s.inValue {
		// The field name, a byte at a time (names are short), up to its
		// colon; CR and LF go back to the checks above.
		for ; i < len(b); i++ {
			c := b[i]
			switch c {
			case '\r', '\n':
				return i, false
			case ':':
				s.inValue = true
				s.field = fieldOther
				switch {
				case s.lineLen == len(nameLength) && bytes.Equal(s.name[:s.lineLen], nameLength):
					s.field = fieldLength
				case s.lineLen == len(nameCoding) && bytes.Equal(s.name[:s.lineLen], nameCoding):
					s.field = fieldCoding
				}
				s.valLen = 0
				s.lineLen++
				return i + 1, false
			}
			if s.lineLen < len(s.name) {
				s.name[s.lineLen] = c | 0x20 // ASCII lower case; the names compared are letters and '-'
			}
			s.lineLen++
		}
		return i, false
	}
	// The rest of the line (request line, field value, trailer field):
	// only CR and LF matter, found a machine word at a time.
	rest := b[i:]
	end := bytes.IndexByte(rest, '\n')
	seg := rest
	if end >= 0 {
		seg = rest[:end]
	}
	cr := bytes.IndexByte(seg, '\r')
	switch {
	case cr >= 0 && cr < len(seg)-1:
		return i + cr + 1, true // bare CR inside the line
	case cr < 0 && end >= 0:
		return i + end, true // bare LF
	}
	if cr >= 0 {
		seg = seg[:cr]
	}
	s.keep(seg)
	s.lineLen += len(seg)
	if cr < 0 {
		return len(b), false // the line goes on in the next read
	}
	if end < 0 {
		s.cr = true // CR is b's last byte
		return len(b), false
	}
	return s.endLine(i + end + 1), false
}

// keep records the value bytes of a Content-Length or Transfer-Encoding
// field (a longer value than val holds is one fasthttp refuses).
func (s *lineScanner) keep(seg []byte) {
	if s.state != stHeader || !s.inValue || s.field == fieldOther {
		return
	}
	if s.valLen+len(seg) > len(s.val) {
		s.valLen = len(s.val) + 1
		return
	}
	s.valLen += copy(s.val[s.valLen:], seg)
}

// endLine ends the line whose LF is just before i; an empty line ends
// the header block or the trailer section.
func (s *lineScanner) endLine(i int) int {
	empty := s.lineLen == 0
	s.lineLen = 0
	switch s.state {
	case stStart:
		return i // an empty line ahead of the request line (§2.2)
	case stTrailer:
		if empty {
			s.state = stStart
		}
		return i
	}
	if s.requestLine {
		s.requestLine = false
		return i
	}
	if !empty {
		if s.inValue {
			s.endField()
		}
		s.inValue = false
		return i
	}
	// End of the header block: what follows it (§6.3).
	switch {
	case s.state == stPassive:
	case s.hasLength && s.hasCoding:
		s.state = stPassive // refused by refuseAmbiguousFraming
	case s.chunked:
		s.state = stChunkSize
		s.digits, s.left = 0, 0
	case s.length > 0:
		s.state = stBody
		s.left = s.length
	default:
		s.state = stStart
	}
	s.length, s.hasLength, s.chunked, s.hasCoding = 0, false, false, false
	return i
}

// endField takes in a complete Content-Length or Transfer-Encoding field.
func (s *lineScanner) endField() {
	if s.field == fieldOther {
		return
	}
	if s.valLen > len(s.val) {
		s.state = stPassive
		return
	}
	v := bytes.Trim(s.val[:s.valLen], " \t")
	switch s.field {
	case fieldLength:
		if s.hasLength || len(v) == 0 || len(v) > 18 {
			s.state = stPassive // duplicate or malformed: fasthttp refuses it
			return
		}
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				s.state = stPassive
				return
			}
			n = n*10 + int64(c-'0')
		}
		s.length, s.hasLength = n, true
	case fieldCoding:
		switch {
		case s.hasCoding:
			s.state = stPassive // fasthttp refuses a second field
		case bytes.EqualFold(v, []byte("chunked")):
			s.chunked = true
		case bytes.EqualFold(v, []byte("identity")):
			// fasthttp reads no body for it
		default:
			s.state = stPassive // an unknown coding: refused
		}
		s.hasCoding = true
	}
}

// chunkSize scans a chunk-size line (§7.1): hex digits, then white space
// or extensions up to CRLF. Whatever fasthttp would refuse makes the
// scanner passive.
func (s *lineScanner) chunkSize(b []byte, i int) int {
	for ; i < len(b); i++ {
		c := b[i]
		if s.cr {
			s.cr = false
			if c != '\n' {
				s.state = stPassive
				return len(b)
			}
			if s.digits == 0 {
				s.state = stPassive
				return len(b)
			}
			if s.left == 0 {
				s.state = stTrailer
				s.lineLen = 0
			} else {
				s.state = stChunkData
			}
			return i + 1
		}
		switch {
		case c == '\r':
			s.cr = true
		case c == '\n':
			s.state = stPassive // fasthttp refuses a bare LF here
			return len(b)
		case s.digits >= 0 && hexValue(c) >= 0:
			if s.digits >= 15 {
				s.state = stPassive // too large for fasthttp
				return len(b)
			}
			s.left = s.left<<4 | int64(hexValue(c))
			s.digits++
		case s.digits == 0:
			s.state = stPassive // no size
			return len(b)
		case s.digits > 0:
			s.digits = -s.digits // past the size: white space or extensions
		}
	}
	return i
}

func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
