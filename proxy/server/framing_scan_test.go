package server

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Well-framed requests, each with what follows its header block; the
// scanner must follow them wherever the reads split them.
var wellFramed = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"\r\nGET /after-empty-line HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /json HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n{\n\n\"a\":\r1\n}\n",
	"POST /x HTTP/1.1\r\nHost: a\r\ncontent-length:  3 \r\n\r\n\n\n\n",
	"GET /with-body HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n\n\n",
	"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe\nlo\r\n3;ext=\"x\"\r\n\n\n\n\r\n0\r\n\r\n",
	"POST /trailer HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n",
	"POST /identity HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
	"GET /long HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("v", 3000) + "\r\nX-Content-Length: 99\r\n\r\n",
	"PUT /zero HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
}

// Requests with a line not ended by CRLF; bad is the index of the byte
// the scanner must stop at.
var badLineEndings = []struct {
	name, request string
	bad           int
}{
	{"bare LF ending the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 14},
	{"header block ended by LF LF", "GET / HTTP/1.1\r\nHost: a\n\n", 23},
	{"bare LF after a field", "GET / HTTP/1.1\r\nHost: a\r\nX: b\n\r\n", 29},
	{"CR LF LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", 25},
	{"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 24},
	{"bare CR in a name", "GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n", 19},
	{"bare LF ahead of the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"bare LF in a trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: b\n\r\n", 63},
}

// scanInPieces feeds stream to a fresh scanner in reads of the given
// sizes (cycled) and returns the index of the first refused byte, or -1.
func scanInPieces(stream string, sizes []int) (int, *lineScanner) {
	var s lineScanner
	b := []byte(stream)
	for off, k := 0, 0; off < len(b); k++ {
		n := min(sizes[k%len(sizes)], len(b)-off)
		if bad := s.scan(b[off : off+n]); bad >= 0 {
			return off + bad, &s
		}
		off += n
	}
	return -1, &s
}

func TestLineScannerFollowsWellFramedRequests(t *testing.T) {
	stream := strings.Join(wellFramed, "")
	rng := rand.New(rand.NewPCG(1, 2))
	chunkings := [][]int{{len(stream)}, {1}, {2}, {3}, {7}}
	for range 200 {
		chunkings = append(chunkings, []int{1 + rng.IntN(40), 1 + rng.IntN(5), 1 + rng.IntN(300)})
	}
	for _, sizes := range chunkings {
		bad, s := scanInPieces(stream, sizes)
		if bad >= 0 {
			t.Fatalf("reads of %v: refused byte %d (%q)", sizes, bad, stream[max(0, bad-20):bad+1])
		}
		if s.state != stStart || s.cr || s.lineLen != 0 {
			t.Fatalf("reads of %v: after the last request the scanner is in state %d, not at a request's start", sizes, s.state)
		}
	}
	// Each request after every other one, so that each is also scanned
	// right after a body.
	for _, first := range wellFramed {
		for _, second := range append(wellFramed, badLineEndings[0].request) {
			stream := first + second
			bad, _ := scanInPieces(stream, []int{5})
			want := -1
			if second == badLineEndings[0].request {
				want = len(first) + badLineEndings[0].bad
			}
			if bad != want {
				t.Fatalf("%q then %q: refused byte %d, want %d", first, second, bad, want)
			}
		}
	}
}

func TestLineScannerRefusesBareLineEndings(t *testing.T) {
	prefix := strings.Join(wellFramed, "")
	for _, tc := range badLineEndings {
		for _, sizes := range [][]int{{1 << 20}, {1}, {3}, {13, 1}} {
			if bad, _ := scanInPieces(tc.request, sizes); bad != tc.bad {
				t.Errorf("%s, reads of %v: refused byte %d, want %d", tc.name, sizes, bad, tc.bad)
			}
			// The same after a keep-alive run of well-framed requests.
			if bad, _ := scanInPieces(prefix+tc.request, sizes); bad != len(prefix)+tc.bad {
				t.Errorf("%s after other requests, reads of %v: refused byte %d, want %d", tc.name, sizes, bad, len(prefix)+tc.bad)
			}
		}
	}
}

// A request the edge refuses anyway (and then closes the connection)
// makes the scanner stop following the connection rather than guess.
func TestLineScannerStepsAsideForRefusedFraming(t *testing.T) {
	for _, request := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n",
	} {
		bad, s := scanInPieces(request+"GET / HTTP/1.1\nHost: a\n\n", []int{4})
		if bad >= 0 || s.state != stPassive {
			t.Errorf("%q: refused byte %d, state %d; want passive", request, bad, s.state)
		}
	}
}

func BenchmarkLineScanner(b *testing.B) {
	request := []byte("GET /api/products/42/ HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-GB,en;q=0.5\r\nConnection: keep-alive\r\n\r\n")
	var s lineScanner
	b.ReportAllocs()
	b.SetBytes(int64(len(request)))
	for b.Loop() {
		if s.scan(request) >= 0 {
			b.Fatal("refused")
		}
	}
}
