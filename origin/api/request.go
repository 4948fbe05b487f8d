package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"edgeshop/origin/auth"
	"edgeshop/origin/store"
)

// decodeJSON reads the request body as one JSON object into v. Bodies that
// are not JSON (Content-Type), too large, malformed, of the wrong shape or
// followed by trailing data are client errors; nothing else is accepted.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
				detail: "request body must be application/json"}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge()
		}
		return errBadRequest("bad_body", "could not read request body")
	}
	return decodeBody(body, v)
}

// decodeBody parses body as exactly one JSON object into v.
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errBadRequest("invalid_json", "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &apiError{status: http.StatusBadRequest, code: "invalid",
				detail: fmt.Sprintf("field %s must be %s", te.Field, typeName(te.Type.String())),
				fields: map[string][]string{te.Field: {"must be " + typeName(te.Type.String())}}}
		}
		return errBadRequest("invalid_json", "request body is not a valid JSON object")
	}
	if dec.More() {
		return errBadRequest("invalid_json", "request body has data after the JSON object")
	}
	var trail json.RawMessage
	if err := dec.Decode(&trail); err != io.EOF {
		return errBadRequest("invalid_json", "request body has data after the JSON object")
	}
	return nil
}

func typeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	default:
		return "an object"
	}
}

// validation collects field errors into one 400.
type validation map[string][]string

func (v validation) add(field, msg string) { v[field] = append(v[field], msg) }

func (v validation) err() error {
	if len(v) == 0 {
		return nil
	}
	var first string
	for f, msgs := range v {
		if first == "" || f < first {
			first = f + ": " + msgs[0]
		}
	}
	return &apiError{status: http.StatusBadRequest, code: "invalid", detail: "invalid input (" + first + ")", fields: v}
}

var (
	errNoCredentials = &apiError{status: http.StatusUnauthorized, code: "not_authenticated",
		detail: "Authentication credentials were not provided."}
	errBadToken = &apiError{status: http.StatusUnauthorized, code: "token_not_valid",
		detail: "Given token not valid for any token type"}
	errNotStaff = &apiError{status: http.StatusForbidden, code: "permission_denied",
		detail: "You do not have permission to perform this action."}
)

// tokenUser authenticates the request's bearer access token and returns
// the id of its user, who may have been deleted since (see signedIn).
func (a *API) tokenUser(r *http.Request) (int64, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return 0, errNoCredentials
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return 0, errBadToken
	}
	c, err := a.cfg.Issuer.Verify(strings.TrimSpace(tok), auth.Access)
	if err != nil {
		return 0, errBadToken
	}
	return c.UserID, nil
}

// userHandler is a handler for an authenticated user.
type userHandler func(w http.ResponseWriter, r *http.Request, p params, u store.User)

// user wraps h so it runs only for an authenticated user, loaded before h
// runs: a deleted user's token stops working at once.
func (a *API) user(h userHandler) handlerFunc {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, p params, id int64) {
		u, err := a.cfg.Shop.UserByID(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			err = errBadToken
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, p, u)
	})
}

// userIDHandler is a handler for a signed-in user, by id.
type userIDHandler func(w http.ResponseWriter, r *http.Request, p params, user int64)

// signedIn wraps h so it runs only with a valid access token, without
// loading the user: h confirms that the user still exists itself, where
// that costs nothing extra. The cart reads report store.ErrNoUser from
// the read they make anyway; the cart add and the order ask userGone only
// when they fail (failSignedIn). Either way a deleted user's token gets
// the 401 user gives it. These are the shop mix's user routes: the user's
// own lookup was a read transaction of its own before each of them.
func (a *API) signedIn(h userIDHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) {
		id, err := a.tokenUser(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, p, id)
	}
}

// userGone reports whether a signedIn route's user no longer exists. A
// write route asks it only when it fails: a write that succeeded proves
// that the user exists, since the rows it wrote or matched (a cart line,
// an order's address, an idempotency key) are deleted with the user (the
// schema's foreign keys). A failed lookup counts as not gone: the route's
// own error is answered then.
func (a *API) userGone(r *http.Request, user int64) bool {
	_, err := a.cfg.Shop.UserByID(r.Context(), user)
	return errors.Is(err, store.ErrNotFound)
}

// failSignedIn answers err for a signedIn write route, or 401 as user
// would (token_not_valid) when the token's user was deleted: a deleted
// user's token is refused before anything about the request is.
func (a *API) failSignedIn(w http.ResponseWriter, r *http.Request, user int64, err error) {
	if errors.Is(err, store.ErrNoUser) || a.userGone(r, user) {
		err = errBadToken
	}
	a.fail(w, r, err)
}

// staff wraps h so it runs only for a staff user (403 for others).
func (a *API) staff(h userHandler) handlerFunc {
	return a.user(func(w http.ResponseWriter, r *http.Request, p params, u store.User) {
		if !u.IsStaff {
			a.fail(w, r, errNotStaff)
			return
		}
		h(w, r, p, u)
	})
}
