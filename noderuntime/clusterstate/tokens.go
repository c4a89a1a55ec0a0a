package clusterstate

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/jointoken"
)

// tokenStore is jointoken.Store in etcd, tokens/<id>: every server of the
// cluster verifies the tokens any of them made.
type tokenStore struct {
	s   *State
	ca  *x509.Certificate
	now func() time.Time
}

// Tokens is the cluster's join token store. ca is the cluster CA whose
// hash the tokens carry; now gives the times of Create and Revoke
// (time.Now when nil).
func (s *State) Tokens(ca *x509.Certificate, now func() time.Time) jointoken.Store {
	if now == nil {
		now = time.Now
	}
	return &tokenStore{s: s, ca: ca, now: now}
}

func tokenKey(id string) string { return tokensPrefix + id }

func (t *tokenStore) Create(role jointoken.Role, ttl time.Duration) (jointoken.Token, error) {
	tok, info, err := jointoken.Issue(t.ca, role, ttl, t.now())
	if err != nil {
		return jointoken.Token{}, err
	}
	ctx, cancel := defaultCtx()
	defer cancel()
	key := tokenKey(tok.ID)
	tr, err := t.s.cli.Txn(ctx).If(absent(key)).Then(clientv3.OpPut(key, mustJSON(info))).Commit()
	if err != nil {
		return jointoken.Token{}, fmt.Errorf("save join token: %w", err)
	}
	if !tr.Succeeded {
		// As in FileStore: 2^30 ids make this all but impossible.
		return jointoken.Token{}, fmt.Errorf("join token id %s exists already: create another", tok.ID)
	}
	return tok, nil
}

func (t *tokenStore) Verify(token string, now time.Time) (jointoken.Role, error) {
	tok, err := jointoken.ParseFor(token, t.ca)
	if err != nil {
		return "", err
	}
	ctx, cancel := defaultCtx()
	defer cancel()
	var info jointoken.Info
	found, _, err := t.s.getJSON(ctx, tokenKey(tok.ID), &info)
	if err != nil {
		return "", fmt.Errorf("verify join token: %w", err)
	}
	if !found {
		return "", jointoken.ErrUnknown
	}
	return info.Check(tok, now)
}

func (t *tokenStore) List() ([]jointoken.Info, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	out, err := listOf[jointoken.Info](ctx, t.s, tokensPrefix)
	if err != nil {
		return nil, fmt.Errorf("list join tokens: %w", err)
	}
	// FileStore lists in creation order; so does this one.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

func (t *tokenStore) Revoke(id string) error {
	ctx, cancel := defaultCtx()
	defer cancel()
	err := update(ctx, t.s, tokenKey(id), false, func(info *jointoken.Info, found bool) (bool, error) {
		if !found {
			return false, fmt.Errorf("%w: no token with id %q", jointoken.ErrUnknown, id)
		}
		if !info.Revoked.IsZero() {
			return false, nil
		}
		info.Revoked = t.now()
		return true, nil
	})
	if errors.Is(err, jointoken.ErrUnknown) {
		return err
	}
	if err != nil {
		return fmt.Errorf("revoke join token %s: %w", id, err)
	}
	return nil
}
