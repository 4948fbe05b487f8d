package server

import "testing"

// FuzzLineScanner feeds arbitrary bytes to the line scanner, whole and in
// pieces of sizes the fuzzer picks: it must not panic, and its verdict —
// the first byte it refuses, or none — must not depend on how the reads
// split the stream (a client choosing its TCP segments must not choose
// what is refused).
func FuzzLineScanner(f *testing.F) {
	for _, r := range wellFramed {
		f.Add([]byte(r), uint8(1), uint8(7))
	}
	for _, r := range badLineEndings {
		f.Add([]byte(r.request), uint8(2), uint8(3))
	}
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n"), uint8(5), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, a, b uint8) {
		whole, _ := scanInPieces(string(stream), []int{len(stream) + 1})
		pieces, _ := scanInPieces(string(stream), []int{int(a%64) + 1, int(b%16) + 1})
		if whole != pieces {
			t.Fatalf("refused at %d read whole, at %d read in pieces of %d and %d", whole, pieces, a%64+1, b%16+1)
		}
		if whole < -1 || whole >= len(stream) {
			t.Fatalf("refused index %d outside the stream of %d bytes", whole, len(stream))
		}
	})
}
