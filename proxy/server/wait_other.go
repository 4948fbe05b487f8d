//go:build !unix

package server

import "net"

// newHeldWrites: elsewhere writes go out at once.
func newHeldWrites(net.Conn) *heldWrites { return nil }
