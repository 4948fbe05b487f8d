package server

import (
	"encoding/json"

	"github.com/valyala/fasthttp"
)

// ContentTypeJSON is the media type of every JSON body the edge writes.
const ContentTypeJSON = "application/json; charset=utf-8"

// Problem is an error answer: a status and its JSON body
// {"detail": ..., "code": ...}, rendered once when the Problem is made so
// that writing it costs no allocation.
type Problem struct {
	status int
	body   []byte
}

// NewProblem returns the answer with status, a machine-readable code and a
// human-readable detail.
func NewProblem(status int, code, detail string) Problem {
	body, err := json.Marshal(struct {
		Detail string `json:"detail"`
		Code   string `json:"code"`
	}{detail, code})
	if err != nil { // two strings always marshal
		panic(err)
	}
	return Problem{status: status, body: body}
}

// Status returns the HTTP status of the answer.
func (p Problem) Status() int { return p.status }

// Write replaces whatever response ctx holds with the answer.
func (p Problem) Write(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(p.status)
	ctx.SetContentType(ContentTypeJSON)
	// The body is never modified after NewProblem, so the response may
	// point at it instead of copying it.
	ctx.Response.SetBodyRaw(p.body)
}
