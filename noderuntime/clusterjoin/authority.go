package clusterjoin

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Limits of the join endpoint.
const (
	// MaxRequestBytes caps a join request: a CSR, a name, some labels.
	MaxRequestBytes = 64 << 10
	// DefaultMaxInFlight is how many joins are handled at once unless set;
	// more are answered "busy" and retried by Join. Servers join one at a
	// time anyway (etcd takes one learner at a time).
	DefaultMaxInFlight = 4
	// maxWaiting bounds the throttled attempts held waiting; more are
	// answered "busy" at once.
	maxWaiting = 64
)

// Authority is the server side of the handshake, mounted on the node API's
// TLS listener (Register).
type Authority struct {
	CA     *pki.CA
	Tokens jointoken.Store
	// Admit runs after the token verified and before the certificate is
	// returned: the cluster code registers the node (refusing a name of
	// another live node with an error wrapping ErrNameTaken) and, for a
	// server, adds the etcd learner. An error refuses the join; Admit must
	// not leave state behind on error. It sees the request without its
	// token. Nil admits every holder of a valid token and grants nothing
	// beyond the certificate (tests do without a cluster this way).
	Admit func(ctx context.Context, req Request, role jointoken.Role) (Admission, error)
	Log   *slog.Logger
	// Now is the clock tokens' expiry is judged by (time.Now when nil).
	Now func() time.Time
	// MaxInFlight is how many joins are handled at once
	// (DefaultMaxInFlight when 0).
	MaxInFlight int

	once     sync.Once
	inFlight chan struct{}
	waiting  chan struct{}
	refused  *refusals
}

func (a *Authority) init() {
	a.once.Do(func() {
		n := a.MaxInFlight
		if n <= 0 {
			n = DefaultMaxInFlight
		}
		a.inFlight = make(chan struct{}, n)
		a.waiting = make(chan struct{}, maxWaiting)
		a.refused = newRefusals(a.now)
	})
}

func (a *Authority) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authority) log() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}

// Register mounts GET CAPath and POST JoinPath on mux.
func (a *Authority) Register(mux *http.ServeMux) {
	a.init()
	mux.HandleFunc("GET "+CAPath, a.serveCA)
	mux.HandleFunc("POST "+JoinPath, a.serveJoin)
}

func (a *Authority) serveCA(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(pki.EncodeCert(a.CA.Cert))
}

// tokenCodes maps the store's refusals to the codes the joiner maps back.
var tokenCodes = []struct {
	err  error
	code string
}{
	{jointoken.ErrMalformed, apitypes.JoinTokenMalformed},
	{jointoken.ErrUnknown, apitypes.JoinTokenUnknown},
	{jointoken.ErrRevoked, apitypes.JoinTokenRevoked},
	{jointoken.ErrExpired, apitypes.JoinTokenExpired},
	{jointoken.ErrWrongRole, apitypes.JoinTokenWrongRole},
	{jointoken.ErrCAMismatch, apitypes.JoinTokenCAMismatch},
}

func tokenCode(err error) (string, bool) {
	for _, c := range tokenCodes {
		if errors.Is(err, c.err) {
			return c.code, true
		}
	}
	return "", false
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *Authority) serveJoin(w http.ResponseWriter, r *http.Request) {
	ip := remoteIP(r)
	lg := a.log().With("remote", ip)
	// The body first: only once it is read does net/http notice a client
	// that hangs up, which a throttled wait must end on.
	var wire apitypes.JoinRequest
	if status, msg := decodeRequest(w, r, &wire); status != 0 {
		code := "bad_request"
		if status == http.StatusRequestEntityTooLarge {
			code = "too_large"
		}
		writeErr(w, status, code, msg)
		return
	}
	if d := a.refused.delay(ip); d > 0 {
		select {
		case a.waiting <- struct{}{}:
		default:
			writeBusy(w, "too many join attempts are waiting")
			return
		}
		lg.Warn("join attempts throttled after refused tokens", "wait", d.Round(time.Millisecond))
		err := wait(r.Context(), d)
		<-a.waiting
		if err != nil {
			return
		}
	}
	select {
	case a.inFlight <- struct{}{}:
		defer func() { <-a.inFlight }()
	default:
		writeBusy(w, "too many joins under way")
		return
	}

	req := Request{Token: wire.Token, CSR: []byte(wire.CSR), Name: wire.Name, Role: jointoken.Role(wire.Role),
		Address: wire.Address, Labels: wire.Labels, PeerURL: wire.PeerURL, NetworkMode: wire.NetworkMode}
	// The token's id names it in the log; its secret appears nowhere.
	tokenID := "?"
	if t, err := jointoken.Parse(req.Token); err == nil {
		tokenID = t.ID
	}
	lg = lg.With("token", tokenID, "name", req.Name, "role", string(req.Role))
	req.Token = ""

	role, err := a.Tokens.Verify(wire.Token, a.now())
	if err != nil {
		code, ok := tokenCode(err)
		if !ok {
			// The store failed, not the token: no refusal to count.
			lg.Error("join: token store", "err", err)
			writeErr(w, http.StatusInternalServerError, "internal", "the server could not check the token; try again")
			return
		}
		a.refused.add(ip)
		lg.Warn("join refused", "err", err)
		writeErr(w, http.StatusForbidden, code, err.Error())
		return
	}
	if err := req.check(role); err != nil {
		lg.Warn("join refused", "err", err)
		if errors.Is(err, jointoken.ErrWrongRole) {
			writeErr(w, http.StatusForbidden, apitypes.JoinTokenWrongRole, err.Error())
			return
		}
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		lg.Warn("join refused", "err", err)
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	// Signed before Admit: signing leaves nothing behind, and once Admit
	// has registered the node nothing else may fail.
	cert, err := a.CA.SignCSR(csr, pki.Request{
		CommonName: CertName(string(role), req.Name),
		IPs:        nodeIPs(net.ParseIP(req.Address)),
		Usage:      pki.ServerAndClientAuth,
	})
	if err != nil {
		lg.Warn("join refused", "err", err)
		writeErr(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	resp := apitypes.JoinResponse{Certificate: string(pki.EncodeCert(cert)), CA: string(pki.EncodeCert(a.CA.Cert))}
	if role == jointoken.RoleServer {
		kb, err := pki.EncodeKey(a.CA.Key)
		if err != nil {
			lg.Error("join: encode the CA key", "err", err)
			writeErr(w, http.StatusInternalServerError, "internal", "the server could not encode its CA key")
			return
		}
		resp.CAKey = string(kb)
	}

	var adm Admission
	if a.Admit != nil {
		adm, err = a.Admit(r.Context(), req, role)
		if err != nil {
			lg.Warn("join refused by the cluster", "err", err)
			if errors.Is(err, ErrNameTaken) {
				writeErr(w, http.StatusConflict, apitypes.JoinNameTaken, err.Error())
				return
			}
			if errors.Is(err, ErrNetworkMismatch) {
				writeErr(w, http.StatusConflict, apitypes.JoinNetworkMismatch, err.Error())
				return
			}
			writeErr(w, http.StatusServiceUnavailable, "join_failed", err.Error())
			return
		}
	}
	resp.Servers, resp.Subnet = adm.Servers, adm.Subnet
	if role == jointoken.RoleServer {
		resp.Secrets = adm.Secrets
		if adm.Etcd != nil {
			resp.Etcd = &apitypes.EtcdJoin{MemberID: adm.Etcd.MemberID, InitialCluster: adm.Etcd.InitialCluster, Endpoints: adm.Etcd.Endpoints}
		}
	}
	lg.Info("node joined", "address", req.Address, "cert_not_after", cert.NotAfter.UTC().Format(time.RFC3339))
	apitypes.WriteJSON(w, http.StatusOK, resp)
}

// decodeRequest reads one JSON value of at most MaxRequestBytes; a non-zero
// status says why not.
func decodeRequest(w http.ResponseWriter, r *http.Request, v any) (int, string) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("the join request is larger than %d bytes", MaxRequestBytes)
		}
		return http.StatusBadRequest, "reading the join request: " + err.Error()
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return http.StatusBadRequest, "the join request is not valid JSON: " + err.Error()
	}
	if dec.More() {
		return http.StatusBadRequest, "the join request has data after its JSON value"
	}
	return 0, ""
}

func parseCSR(b []byte) (*x509.CertificateRequest, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("the CSR is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the CSR: %w", err)
	}
	return csr, nil
}

// nodeIPs are the IP SANs of a node certificate: its advertise address and
// loopback, so that the node's own processes reach it by 127.0.0.1.
func nodeIPs(advertise net.IP) []net.IP {
	lo := net.IPv4(127, 0, 0, 1)
	if advertise.Equal(lo) {
		return []net.IP{lo}
	}
	return []net.IP{advertise, lo}
}

func writeErr(w http.ResponseWriter, code int, c, msg string) {
	apitypes.WriteJSON(w, code, apitypes.Error{Code: c, Message: msg})
}

func writeBusy(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeErr(w, http.StatusServiceUnavailable, apitypes.JoinBusy, msg+"; try again")
}
