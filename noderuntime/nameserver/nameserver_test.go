package nameserver

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream is a resolver standing in for the node's: it answers
// example.com with 192.0.2.7 and everything else with NXDOMAIN.
func upstream(t *testing.T) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; strings.EqualFold(q.Name, "example.com.") && q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func start(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	if o.Upstreams == nil {
		o.Upstreams = []string{}
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Addrs()[0].String()
}

// shop is a deployment with web (two ready replicas, one starting) and
// api (none ready); 127.0.0.2 is one of web's replicas, so queries from it
// are asked by shop.
var shop = []Service{
	{Deployment: "shop", Name: "web",
		Ports: []Port{{Name: "http", Proto: "tcp", Port: 8080}, {Name: "stats", Proto: "udp", Port: 9125}},
		Replicas: []Replica{
			{ID: "shop-web-1-aaaaaaaa", Addr: netip.MustParseAddr("10.210.1.2"), Ready: true},
			{ID: "shop-web-2-aaaaaaaa", Addr: netip.MustParseAddr("10.210.2.2"), Ready: true},
			{ID: "shop-web-3-aaaaaaaa", Addr: netip.MustParseAddr("127.0.0.2"), Ready: false},
		}},
	{Deployment: "shop", Name: "api", Ports: []Port{{Name: "http", Proto: "tcp", Port: 80}},
		Replicas: []Replica{{ID: "shop-api-1-bbbbbbbb", Addr: netip.MustParseAddr("10.210.3.2")}}},
	{Deployment: "blog", Name: "web", Replicas: []Replica{{ID: "blog-web-1-cccccccc", Addr: netip.MustParseAddr("10.210.1.9"), Ready: true}}},
}

func ask(t *testing.T, addr, from, name string, qtype uint16, proto string) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	if from != "" {
		if proto == "tcp" {
			c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		} else {
			c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", name, dns.TypeToString[qtype], from, err)
	}
	return r
}

func addrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	sort.Strings(out)
	return out
}

func TestAnswersServiceNames(t *testing.T) {
	s, addr := start(t, Options{Upstreams: []string{upstream(t)}})
	s.SetServices(shop)
	cases := []struct {
		from, name string
		want       []string
	}{
		{"", "web.shop.zlayer.internal", []string{"10.210.1.2", "10.210.2.2"}},
		{"", "WEB.Shop.zlayer.internal", []string{"10.210.1.2", "10.210.2.2"}},
		{"", "web.shop", []string{"10.210.1.2", "10.210.2.2"}},
		{"", "web.blog", []string{"10.210.1.9"}},
		// SERVICE alone is the asker's deployment's.
		{"127.0.0.2", "web", []string{"10.210.1.2", "10.210.2.2"}},
		{"127.0.0.2", "shop-web-2-aaaaaaaa.web.shop.zlayer.internal", []string{"10.210.2.2"}},
	}
	for _, c := range cases {
		for _, proto := range []string{"udp", "tcp"} {
			r := ask(t, addr, c.from, c.name, dns.TypeA, proto)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.Equal(addrs(r), c.want) {
				t.Errorf("%s A from %q over %s: %s %v, want %v", c.name, c.from, proto, dns.RcodeToString[r.Rcode], addrs(r), c.want)
			}
			for _, rr := range r.Answer {
				if rr.Header().Ttl != 1 || rr.Header().Name != dns.Fqdn(c.name) {
					t.Errorf("%s: record %s, want TTL 1 and the name as asked", c.name, rr)
				}
			}
		}
	}
	// Without a known source, a bare SERVICE is not the cluster's: the
	// upstream says NXDOMAIN.
	if r := ask(t, addr, "127.0.0.1", "web", dns.TypeA, "udp"); r.Rcode != dns.RcodeNameError || r.Authoritative {
		t.Errorf("web from an unknown source: %s aa=%v, want the upstream's NXDOMAIN", dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	// Replicas are rotated between answers, so first-pick resolvers spread.
	firsts := map[string]bool{}
	for range 4 {
		r := ask(t, addr, "", "web.shop.zlayer.internal", dns.TypeA, "udp")
		firsts[r.Answer[0].(*dns.A).A.String()] = true
		// A resolver asks AAAA beside A; the empty answer must not undo
		// the step.
		ask(t, addr, "", "web.shop.zlayer.internal", dns.TypeAAAA, "udp")
	}
	if len(firsts) != 2 {
		t.Errorf("first answer always %v", firsts)
	}
}

func TestNXDomainAndNoData(t *testing.T) {
	s, addr := start(t, Options{Upstreams: []string{upstream(t)}})
	s.SetServices(shop)
	cases := []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"nope.shop.zlayer.internal", dns.TypeA, dns.RcodeNameError},
		{"web.nope.zlayer.internal", dns.TypeA, dns.RcodeNameError},
		{"_http._udp.web.shop.zlayer.internal", dns.TypeSRV, dns.RcodeNameError},
		// Names that exist without records of the type: NODATA.
		{"web.shop.zlayer.internal", dns.TypeAAAA, dns.RcodeSuccess},
		{"web.shop.zlayer.internal", dns.TypeMX, dns.RcodeSuccess},
		{"api.shop.zlayer.internal", dns.TypeA, dns.RcodeSuccess}, // nobody ready
		{"shop.zlayer.internal", dns.TypeA, dns.RcodeSuccess},     // a parent only
		{"zlayer.internal", dns.TypeA, dns.RcodeSuccess},
	}
	for _, c := range cases {
		r := ask(t, addr, "", c.name, c.qtype, "udp")
		if r.Rcode != c.rcode || len(r.Answer) != 0 || !r.Authoritative {
			t.Errorf("%s %s: %s with %d answers aa=%v, want %s and none", c.name, dns.TypeToString[c.qtype], dns.RcodeToString[r.Rcode], len(r.Answer), r.Authoritative, dns.RcodeToString[c.rcode])
		}
		if len(r.Ns) != 1 || r.Ns[0].(*dns.SOA).Minttl != 1 {
			t.Errorf("%s: authority %v, want the zone's SOA with a 1s negative TTL", c.name, r.Ns)
		}
	}
	if r := ask(t, addr, "", "zlayer.internal", dns.TypeSOA, "udp"); len(r.Answer) != 1 {
		t.Errorf("SOA at the apex: %v", r.Answer)
	}
}

func TestSRVCarriesEndpointPorts(t *testing.T) {
	s, addr := start(t, Options{})
	s.SetServices(shop)
	r := ask(t, addr, "", "_http._tcp.web.shop.zlayer.internal", dns.TypeSRV, "udp")
	var got []string
	for _, rr := range r.Answer {
		srv := rr.(*dns.SRV)
		got = append(got, srv.Target+" "+strconv.Itoa(int(srv.Port)))
	}
	sort.Strings(got)
	want := []string{"shop-web-1-aaaaaaaa.web.shop.zlayer.internal. 8080", "shop-web-2-aaaaaaaa.web.shop.zlayer.internal. 8080"}
	if !slices.Equal(got, want) {
		t.Fatalf("SRV: %v, want %v", got, want)
	}
	extra := map[string]string{}
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok {
			extra[a.Hdr.Name] = a.A.String()
		}
	}
	if extra["shop-web-1-aaaaaaaa.web.shop.zlayer.internal."] != "10.210.1.2" || extra["shop-web-2-aaaaaaaa.web.shop.zlayer.internal."] != "10.210.2.2" {
		t.Errorf("additional addresses of the targets: %v", extra)
	}
	r = ask(t, addr, "127.0.0.2", "_stats._udp.web", dns.TypeSRV, "udp")
	if len(r.Answer) != 2 || r.Answer[0].(*dns.SRV).Port != 9125 {
		t.Errorf("udp endpoint SRV by the short name: %v", r.Answer)
	}
}

func TestAnswersFollowSetServices(t *testing.T) {
	s, addr := start(t, Options{})
	s.SetServices(shop)
	next := slices.Clone(shop)
	next[1].Replicas = []Replica{{ID: "shop-api-1-bbbbbbbb", Addr: netip.MustParseAddr("10.210.3.2"), Ready: true}}
	next[0].Replicas = next[0].Replicas[1:]
	s.SetServices(next)
	if got := addrs(ask(t, addr, "", "api.shop", dns.TypeA, "udp")); !slices.Equal(got, []string{"10.210.3.2"}) {
		t.Errorf("api ready: %v", got)
	}
	if got := addrs(ask(t, addr, "", "web.shop", dns.TypeA, "udp")); !slices.Equal(got, []string{"10.210.2.2"}) {
		t.Errorf("web after a replica left: %v", got)
	}
	s.SetServices(nil)
	if r := ask(t, addr, "", "web.shop.zlayer.internal", dns.TypeA, "udp"); r.Rcode != dns.RcodeNameError {
		t.Errorf("deployment gone: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestForwardsOtherNames(t *testing.T) {
	// The first upstream is dead: the next one answers.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	s, addr := start(t, Options{Upstreams: []string{deadAddr, upstream(t)}})
	s.SetServices(shop)
	for _, proto := range []string{"udp", "tcp"} {
		r := ask(t, addr, "", "example.com", dns.TypeA, proto)
		if r.Rcode != dns.RcodeSuccess || !slices.Equal(addrs(r), []string{"192.0.2.7"}) {
			t.Errorf("example.com over %s: %s %v", proto, dns.RcodeToString[r.Rcode], addrs(r))
		}
		if r := ask(t, addr, "", "nowhere.example", dns.TypeA, proto); r.Rcode != dns.RcodeNameError {
			t.Errorf("nowhere.example over %s: %s, want the upstream's NXDOMAIN", proto, dns.RcodeToString[r.Rcode])
		}
	}
	if st := s.Stats(); st.Forwarded != 4 || st.Answered != 0 {
		t.Errorf("stats %+v, want 4 forwarded", st)
	}
}

func TestForwardsBoundedInFlight(t *testing.T) {
	// An upstream that never answers holds the one forward slot.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	s, addr := start(t, Options{Upstreams: []string{silent.LocalAddr().String()}, MaxForwards: 1, ForwardTimeout: 2 * time.Second})
	var wg sync.WaitGroup
	wg.Add(1)
	var first *dns.Msg
	go func() { defer wg.Done(); first = ask(t, addr, "", "slow.example", dns.TypeA, "udp") }()
	buf := make([]byte, 512)
	if _, _, err := silent.ReadFrom(buf); err != nil { // the first is in flight
		t.Fatal(err)
	}
	began := time.Now()
	r := ask(t, addr, "", "other.example", dns.TypeA, "udp")
	if r.Rcode != dns.RcodeServerFailure || time.Since(began) > time.Second {
		t.Errorf("over the forward limit: %s after %s, want SERVFAIL at once", dns.RcodeToString[r.Rcode], time.Since(began))
	}
	wg.Wait()
	if first.Rcode != dns.RcodeServerFailure {
		t.Errorf("upstream silent: %s, want SERVFAIL", dns.RcodeToString[first.Rcode])
	}
	if st := s.Stats(); st.Refused != 1 || st.Failed != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestForwardsBoundedPerSource: a source whose forwards hang holds only its
// own share; another source's queries are still forwarded.
func TestForwardsBoundedPerSource(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	s, addr := start(t, Options{Upstreams: []string{silent.LocalAddr().String()}, SourceForwards: 1, ForwardTimeout: 2 * time.Second})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ask(t, addr, "127.0.0.5", "slow.example", dns.TypeA, "udp") }()
	buf := make([]byte, 512)
	if _, _, err := silent.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, addr, "127.0.0.5", "again.example", dns.TypeA, "udp"); r.Rcode != dns.RcodeServerFailure || s.Stats().Refused != 1 {
		t.Errorf("second forward of one source: %s, stats %+v, want SERVFAIL at once", dns.RcodeToString[r.Rcode], s.Stats())
	}
	wg.Add(1)
	go func() { defer wg.Done(); ask(t, addr, "127.0.0.6", "other.example", dns.TypeA, "udp") }()
	silent.SetReadDeadline(time.Now().Add(time.Second))
	if _, _, err := silent.ReadFrom(buf); err != nil {
		t.Errorf("another source's query was not forwarded: %v", err)
	}
	wg.Wait()
	if st := s.Stats(); st.Refused != 1 || st.Failed != 2 {
		t.Errorf("stats %+v, want 1 refused and 2 timed out", st)
	}
}

func TestSourceRateLimit(t *testing.T) {
	s, addr := start(t, Options{SourceRate: 1, SourceBurst: 5})
	s.SetServices(shop)
	codes := map[int]int{}
	for range 8 {
		codes[ask(t, addr, "127.0.0.3", "web.shop", dns.TypeA, "udp").Rcode]++
	}
	if codes[dns.RcodeSuccess] < 5 || codes[dns.RcodeSuccess] > 6 || codes[dns.RcodeRefused] < 2 {
		t.Errorf("8 queries at a burst of 5: %v", codes)
	}
	// Another source is not held back by the first's flood.
	if r := ask(t, addr, "127.0.0.4", "web.shop", dns.TypeA, "udp"); r.Rcode != dns.RcodeSuccess {
		t.Errorf("other source: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestHostileQueries(t *testing.T) {
	s, addr := start(t, Options{})
	s.SetServices(shop)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A datagram far over 512 bytes, garbage, and two questions at once.
	huge := new(dns.Msg)
	huge.SetQuestion("web.shop.zlayer.internal.", dns.TypeA)
	for range 100 {
		huge.Extra = append(huge.Extra, &dns.TXT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{strings.Repeat("x", 200)}})
	}
	raw, _ := huge.Pack()
	two := new(dns.Msg)
	two.SetQuestion("web.shop.zlayer.internal.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	rawTwo, _ := two.Pack()
	for _, p := range [][]byte{raw, {1, 2, 3}, rawTwo} {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		m := new(dns.Msg)
		if m.Unpack(buf[:n]) == nil && len(m.Answer) > 0 {
			t.Errorf("a malformed query was answered: %v", m)
		}
	}
	// The server still answers.
	if r := ask(t, addr, "", "web.shop", dns.TypeA, "udp"); len(r.Answer) != 2 {
		t.Errorf("after hostile input: %v", r)
	}
	// A TCP query claiming 65535 bytes and sending none is cut off.
	tc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.Write([]byte{0xff, 0xff})
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tc.Read(buf); err == nil {
		t.Error("a stalled TCP query got an answer")
	}
}

func TestLargeAnswerTruncatedOverUDP(t *testing.T) {
	s, addr := start(t, Options{})
	var reps []Replica
	for i := range 100 {
		reps = append(reps, Replica{ID: "big-web-" + strconv.Itoa(i+1) + "-dddddddd", Addr: netip.AddrFrom4([4]byte{10, 210, byte(i / 200), byte(2 + i%200)}), Ready: true})
	}
	s.SetServices([]Service{{Deployment: "big", Name: "web", Replicas: reps}})
	r := ask(t, addr, "", "web.big.zlayer.internal", dns.TypeA, "udp")
	if !r.Truncated || len(r.Answer) >= 100 {
		t.Errorf("100 addresses over plain UDP: tc=%v with %d", r.Truncated, len(r.Answer))
	}
	if r := ask(t, addr, "", "web.big.zlayer.internal", dns.TypeA, "tcp"); r.Truncated || len(r.Answer) != 100 {
		t.Errorf("over TCP: tc=%v with %d", r.Truncated, len(r.Answer))
	}
	// A client announcing 4096 bytes gets all 100 over UDP, with the OPT
	// record that allows it.
	m := new(dns.Msg)
	m.SetQuestion("web.big.zlayer.internal.", dns.TypeA)
	m.SetEdns0(4096, false)
	r, _, err := (&dns.Client{UDPSize: 4096, Timeout: 5 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 100 || r.IsEdns0() == nil {
		t.Errorf("over UDP with EDNS 4096: tc=%v with %d, opt %v", r.Truncated, len(r.Answer), r.IsEdns0())
	}
}

func TestSystemUpstreams(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte("# c\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nsearch lan\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := SystemUpstreams(p); !slices.Equal(got, []string{"10.0.0.2:53", "[fe80::1%eth0]:53"}) {
		t.Errorf("upstreams %v", got)
	}
	if err := os.WriteFile(p, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := SystemUpstreams(p); !slices.Equal(got, []string{"127.0.0.53:53"}) {
		t.Errorf("only a loopback stub: %v", got)
	}
	if _, err := New(Options{Upstreams: []string{"dns.google"}}); err == nil || !strings.Contains(err.Error(), `upstream "dns.google"`) {
		t.Errorf("a name as upstream: %v", err)
	}
}
