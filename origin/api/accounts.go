package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"edgeshop/origin/auth"
	"edgeshop/origin/store"
)

// Accounts is what the /auth routes need from the store.
type Accounts interface {
	CreateUser(ctx context.Context, username, email, hash string) (store.User, error)
	UserByID(ctx context.Context, id int64) (store.User, error)
	UserByUsername(ctx context.Context, username string) (store.User, error)
	UpdateEmail(ctx context.Context, id int64, email string) error
	DeleteUser(ctx context.Context, id int64) error
	SetPassword(ctx context.Context, id int64, hash string) error
	AddRefreshToken(ctx context.Context, jti string, user int64, expires time.Time) error
	RotateRefreshToken(ctx context.Context, oldJTI string, user int64, newJTI string, expires time.Time) error
	RevokeRefreshToken(ctx context.Context, jti string, user int64) error
	RefreshTokenActive(ctx context.Context, jti string) (bool, error)
}

const minPasswordLen = 8

var errBadLogin = &apiError{status: http.StatusUnauthorized, code: "no_active_account",
	detail: "No active account found with the given credentials"}

func (a *API) accountRoutes() {
	r := a.router
	r.handle("POST", "/auth/users/", a.register)
	r.handle("GET", "/auth/users/me/", a.user(a.me))
	r.handle("PATCH", "/auth/users/me/", a.user(a.updateMe))
	r.handle("DELETE", "/auth/users/me/", a.user(a.deleteMe))
	r.handle("POST", "/auth/users/set_password/", a.user(a.setPassword))
	r.handle("POST", "/auth/jwt/create/", a.login)
	r.handle("POST", "/auth/jwt/refresh/", a.refresh)
	r.handle("POST", "/auth/jwt/verify/", a.verify)
	r.handle("POST", "/auth/logout/", a.logout)
}

func appendUser(b []byte, u store.User) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, `,"username":`...)
	b = appendString(b, u.Username)
	b = append(b, `,"email":`...)
	b = appendString(b, u.Email)
	return append(b, '}')
}

// validUsername follows the seed's (Django's) rule: letters, digits and
// @ . + - _, at most 150 characters.
func validUsername(s string) bool {
	if s == "" || len(s) > 150 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("@.+-_", r) {
			return false
		}
	}
	return true
}

func validEmail(s string) bool {
	if s == "" {
		return true
	}
	at := strings.IndexByte(s, '@')
	return len(s) <= 254 && at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>\"")
}

// checkPassword counts the minimum in characters (the contract's "8
// chars"), the maximum in bytes (bcrypt's limit).
func checkPassword(v validation, field, pw string) {
	switch {
	case utf8.RuneCountInString(pw) < minPasswordLen:
		v.add(field, "must be at least 8 characters")
	case len(pw) > auth.MaxPasswordLen:
		v.add(field, "must be at most 72 bytes")
	}
}

func (a *API) register(w http.ResponseWriter, r *http.Request, _ params) {
	var in struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
		Email    *string `json:"email"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v := validation{}
	if in.Username == nil || !validUsername(*in.Username) {
		v.add("username", "required: 1 to 150 letters, digits or @.+-_")
	}
	if in.Password == nil {
		v.add("password", "required")
	} else {
		checkPassword(v, "password", *in.Password)
	}
	email := ""
	if in.Email != nil {
		email = strings.TrimSpace(*in.Email)
		if !validEmail(email) {
			v.add("email", "must be a valid email address")
		}
	}
	if err := v.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	hash, err := a.cfg.Hasher.Hash(*in.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.cfg.Shop.CreateUser(r.Context(), *in.Username, email, hash)
	if errors.Is(err, store.ErrConflict) {
		a.fail(w, r, &apiError{status: http.StatusConflict, code: "duplicate_username",
			detail: "A user with that username already exists.", fields: map[string][]string{"username": {"already taken"}}})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appendUser(nil, u))
}

func (a *API) me(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	writeJSON(w, http.StatusOK, appendUser(nil, u))
}

func (a *API) updateMe(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	var in struct {
		Email *string `json:"email"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Email != nil {
		email := strings.TrimSpace(*in.Email)
		if !validEmail(email) {
			a.fail(w, r, validation{"email": {"must be a valid email address"}}.err())
			return
		}
		if err := a.cfg.Shop.UpdateEmail(r.Context(), u.ID, email); err != nil {
			a.fail(w, r, err)
			return
		}
		u.Email = email
	}
	writeJSON(w, http.StatusOK, appendUser(nil, u))
}

func (a *API) deleteMe(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	var in struct {
		CurrentPassword *string `json:"current_password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.CurrentPassword == nil || !a.cfg.Hasher.Check(u.PasswordHash, *in.CurrentPassword) {
		a.fail(w, r, &apiError{status: http.StatusBadRequest, code: "invalid_password",
			detail: "Invalid password.", fields: map[string][]string{"current_password": {"invalid password"}}})
		return
	}
	if err := a.cfg.Shop.DeleteUser(r.Context(), u.ID); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	var in struct {
		CurrentPassword *string `json:"current_password"`
		NewPassword     *string `json:"new_password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v := validation{}
	if in.NewPassword == nil {
		v.add("new_password", "required")
	} else {
		checkPassword(v, "new_password", *in.NewPassword)
	}
	if err := v.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.CurrentPassword == nil || !a.cfg.Hasher.Check(u.PasswordHash, *in.CurrentPassword) {
		a.fail(w, r, &apiError{status: http.StatusBadRequest, code: "invalid_password",
			detail: "Invalid password.", fields: map[string][]string{"current_password": {"invalid password"}}})
		return
	}
	hash, err := a.cfg.Hasher.Hash(*in.NewPassword)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.cfg.Shop.SetPassword(r.Context(), u.ID, hash); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusNoContent)
}

// issuePair issues an access token and a recorded refresh token.
func (a *API) issuePair(ctx context.Context, user int64, rotate string) ([]byte, error) {
	access, _, err := a.cfg.Issuer.Issue(user, auth.Access)
	if err != nil {
		return nil, err
	}
	refresh, rc, err := a.cfg.Issuer.Issue(user, auth.Refresh)
	if err != nil {
		return nil, err
	}
	if rotate == "" {
		err = a.cfg.Shop.AddRefreshToken(ctx, rc.ID, user, rc.Expiry)
	} else {
		err = a.cfg.Shop.RotateRefreshToken(ctx, rotate, user, rc.ID, rc.Expiry)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	b := append([]byte(`{"access":`), appendString(nil, access)...)
	b = append(b, `,"refresh":`...)
	b = appendString(b, refresh)
	return append(b, '}'), nil
}

func (a *API) login(w http.ResponseWriter, r *http.Request, _ params) {
	var in struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v := validation{}
	if in.Username == nil || *in.Username == "" {
		v.add("username", "required")
	}
	if in.Password == nil || *in.Password == "" {
		v.add("password", "required")
	}
	if err := v.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	// The same work and the same answer whether the user is unknown or the
	// password wrong: Check hashes against a dummy when there is no user.
	u, err := a.cfg.Shop.UserByUsername(r.Context(), *in.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, err)
		return
	}
	if !a.cfg.Hasher.Check(u.PasswordHash, *in.Password) || u.ID == 0 {
		a.fail(w, r, errBadLogin)
		return
	}
	body, err := a.issuePair(r.Context(), u.ID, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *API) refreshClaims(r *http.Request) (auth.Claims, error) {
	var in struct {
		Refresh *string `json:"refresh"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return auth.Claims{}, err
	}
	if in.Refresh == nil || *in.Refresh == "" {
		return auth.Claims{}, validation{"refresh": {"required"}}.err()
	}
	c, err := a.cfg.Issuer.Verify(*in.Refresh, auth.Refresh)
	if err != nil {
		return auth.Claims{}, errBadToken
	}
	return c, nil
}

func (a *API) refresh(w http.ResponseWriter, r *http.Request, _ params) {
	c, err := a.refreshClaims(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := a.issuePair(r.Context(), c.UserID, c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *API) verify(w http.ResponseWriter, r *http.Request, _ params) {
	var in struct {
		Token *string `json:"token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Token == nil || *in.Token == "" {
		a.fail(w, r, validation{"token": {"required"}}.err())
		return
	}
	if _, err := a.cfg.Issuer.Verify(*in.Token, auth.Access); err == nil {
		writeJSON(w, http.StatusOK, []byte(`{}`))
		return
	}
	c, err := a.cfg.Issuer.Verify(*in.Token, auth.Refresh)
	if err != nil {
		a.fail(w, r, errBadToken)
		return
	}
	active, err := a.cfg.Shop.RefreshTokenActive(r.Context(), c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !active {
		a.fail(w, r, errBadToken)
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{}`))
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, _ params) {
	c, err := a.refreshClaims(r)
	if errors.Is(err, errBadToken) {
		err = errBadRequest("token_not_valid", "refresh token is invalid or already used")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	err = a.cfg.Shop.RevokeRefreshToken(r.Context(), c.ID, c.UserID)
	if errors.Is(err, store.ErrNotFound) {
		err = errBadRequest("token_not_valid", "refresh token is invalid or already used")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{}`))
}
