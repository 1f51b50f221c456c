// Package apiserver runs the kube-audit receiver behind a real kube-apiserver: the API server of
// k8s.io/kubernetes started in-process the way Kubernetes' own integration tests start it
// (cmd/kube-apiserver/app/testing.StartTestServer), with etcd embedded from
// go.etcd.io/etcd/server/v3/embed, and the receiver's built bundles started as real processes.
//
// The API server's own log backend (--audit-log-path) writes every event beside the webhook in
// the same run; it is the ground truth the receiver's stdout is checked against.
package apiserver

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/klog/v2"
)

// kubectlPath is kubectl of the same Kubernetes release as the API server, built from this
// module's tool dependency (go.mod: tool k8s.io/kubernetes/cmd/kubectl).
var kubectlPath string

func buildKubectl(dir string) (string, error) {
	out := filepath.Join(dir, "kubectl")
	cmd := exec.Command("go", "build", "-o", out, "k8s.io/kubernetes/cmd/kubectl")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return out, cmd.Run()
}

// etcdURL is the client URL of the etcd that every API server of this test binary stores into,
// each under a prefix of its own (as test/integration/framework.SharedEtcd does).
var etcdURL string

func TestMain(m *testing.M) {
	// The API server logs through klog; keep the test output to what fails.
	klog.LogToStderr(false)
	klog.SetOutput(discard{})
	dir, err := os.MkdirTemp("", "kube-audit-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if kubectlPath, err = buildKubectl(dir); err != nil {
		fmt.Fprintln(os.Stderr, "kubectl:", err)
		os.Exit(1)
	}
	e, err := startEtcd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedded etcd:", err)
		os.Exit(1)
	}
	code := m.Run()
	e.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// startEtcd starts a single-member etcd on loopback, configured like k8s.io/apiserver's
// pkg/storage/etcd3/testserver.NewTestConfig (no fsync, free ports, errors-only logs).
func startEtcd(dir string) (*embed.Etcd, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.UnsafeNoFsync = true
	client := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	peer := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Dir = filepath.Join(dir, "data")
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd did not become ready in 60 s")
	}
	etcdURL = client.String()
	return e, nil
}

// storageConfig gives one API server a fresh key prefix in the shared etcd.
func storageConfig() *storagebackend.Config {
	cfg := storagebackend.NewDefaultConfig(path.Join(uuid.New().String(), "registry"), nil)
	cfg.Transport.ServerList = []string{etcdURL}
	return cfg
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
