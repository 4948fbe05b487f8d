//go:build !linux

package server

import (
	"time"

	"github.com/valyala/fasthttp"
)

// lot is epoll's; elsewhere connections never park.
type lot struct{ shorten time.Duration }

func newLot(*fasthttp.Server, time.Duration, *ParkCounts) (*lot, error) { return nil, nil }
func (l *lot) park(*strictConn) bool                                    { return false }
func (l *lot) stop()                                                    {}
