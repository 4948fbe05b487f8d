//go:build !linux

package server

import "github.com/valyala/fasthttp"

// lot is epoll's; elsewhere connections never park.
type lot struct{ lotDelays }

func newLot(*fasthttp.Server, serveOptions) (*lot, error) { return nil, nil }
func (l *lot) park(*strictConn) bool                      { return false }
func (l *lot) stop()                                      {}
