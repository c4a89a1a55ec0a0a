package etcdmember

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

func TestEtcdLogsGoThroughSlog(t *testing.T) {
	var b bytes.Buffer
	lg := zapLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})))
	lg.With(zap.String("member", "s1")).Warn("peer lost", zap.Int("attempt", 3))
	lg.Info("raft detail")
	lg.Error("disk failed", zap.Error(net.ErrClosed))
	out := b.String()
	for _, want := range []string{"level=WARN", `msg="peer lost"`, "member=s1", "attempt=3", "level=ERROR", `msg="disk failed"`, "use of closed network connection"} {
		if !strings.Contains(out, want) {
			t.Errorf("slog output lacks %s:\n%s", want, out)
		}
	}
	// etcd's info is detail: debug, so hidden at the usual info level.
	if strings.Contains(out, "raft detail") {
		t.Errorf("etcd info line shown at slog info level:\n%s", out)
	}
}

func TestConfigChecked(t *testing.T) {
	ca, err := pki.NewCA("c")
	if err != nil {
		t.Fatal(err)
	}
	ok := Config{Dir: t.TempDir(), Name: "n", AdvertiseIP: net.IPv4(10, 0, 0, 1), CA: ca}
	if err := ok.check(); err != nil {
		t.Fatal(err)
	}
	if ok.PeerURL() != "https://10.0.0.1:2380" || ok.ClientURL() != "https://10.0.0.1:2379" {
		t.Fatalf("default URLs %s %s", ok.PeerURL(), ok.ClientURL())
	}
	v6 := ok
	v6.AdvertiseIP, v6.PeerPort = net.ParseIP("fd00::1"), 12380
	if v6.PeerURL() != "https://[fd00::1]:12380" {
		t.Fatalf("IPv6 peer URL %s", v6.PeerURL())
	}
	for name, mod := range map[string]func(*Config){
		"folder": func(c *Config) { c.Dir = "" },
		"name":   func(c *Config) { c.Name = "" },
		"IP":     func(c *Config) { c.AdvertiseIP = nil },
		"CA":     func(c *Config) { c.CA = nil },
	} {
		c := ok
		mod(&c)
		if err := c.check(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("config without %s: %v", name, err)
		}
	}
}
