package apiserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The webhook's retry rule, which these tests lean on: a batch that fails is sent again after
// 10 s, 15 s, 22.5 s and 33.75 s, about 80 s in all, before it is dropped
// (k8s.io/apiserver/plugin/pkg/audit/webhook: DefaultInitialBackoffDelay 10 s, and
// k8s.io/apiserver/pkg/util/webhook.DefaultRetryBackoffWithInitialDelay: factor 1.5, 5 steps).
// client-go's REST client also re-posts a 429 or 5xx that carries Retry-After, up to 10 times,
// within one attempt (k8s.io/client-go/rest: checkWait, maxRetries).

// TestReceiverDownAndBack stops the only receiver for about 20 s while the API server keeps
// producing events, then starts it again on the same port: the API server retries, and every
// event arrives exactly once.
func TestReceiverDownAndBack(t *testing.T) {
	dir := t.TempDir()
	ports, err := freePorts(2)
	must(t, err)
	env := receiverEnv(modeHTTP, pki{dir: dir}, ports[0], ports[1])
	r1 := startReceiver(t, nodeRuntime, dir, "receiver-1", receiverOptions{env: env})
	kubeconfig := filepath.Join(dir, "webhook.kubeconfig.yaml")
	renderKubeconfig(t, modeHTTP, webhookHostPort(modeHTTP, ports[0], ports[1]), pki{}, kubeconfig)
	api := startAPIServer(t, dir, filepath.Join(repoRoot(t), "deploy", "apiserver", "audit-policy.yaml"), kubeconfig)

	runWorkload(t, api.ClientConfig, dir, workloadOptions{namespace: "before-down"})
	r1.stop()
	down := time.Now()
	runWorkload(t, api.ClientConfig, dir, workloadOptions{namespace: "while-down"})
	time.Sleep(time.Until(down.Add(20 * time.Second)))
	r2 := startReceiver(t, nodeRuntime, dir, "receiver-2", receiverOptions{env: env})
	runWorkload(t, api.ClientConfig, dir, workloadOptions{namespace: "after-down"})
	shutdownAt := time.Now()
	api.stop()
	r2.stop()
	artifacts(t, "receiver-down-20s", api.auditLog, r1.stdoutPath, r2.stdoutPath)

	logLines := readLines(t, api.auditLog)
	matchLogToStdout(t, logLines, readLines(t, r1.stdoutPath, r2.stdoutPath), expectations{shutdownAt: shutdownAt})
	// The events of requests made while the receiver was down reached the second receiver.
	late := 0
	for _, l := range readLines(t, r2.stdoutPath) {
		if strings.Contains(l, "/namespaces/while-down/") {
			late++
		}
	}
	if late == 0 {
		t.Error("no event of the requests made while the receiver was down reached the restarted receiver")
	}
}

// TestBackpressure503 lets the receiver's stdout back up (the log agent stops reading) past a
// small MAX_PENDING_BYTES: the receiver answers 503 with Retry-After, the API server re-posts,
// and once stdout drains every event is there exactly once.
func TestBackpressure503(t *testing.T) {
	dir := t.TempDir()
	ports, err := freePorts(2)
	must(t, err)
	env := receiverEnv(modeHTTP, pki{dir: dir}, ports[0], ports[1])
	env["MAX_PENDING_BYTES"] = "65536"
	var paused atomic.Bool
	paused.Store(true)
	r := startReceiver(t, nodeRuntime, dir, "receiver", receiverOptions{env: env, paused: &paused})
	defer paused.Store(false)
	kubeconfig := filepath.Join(dir, "webhook.kubeconfig.yaml")
	renderKubeconfig(t, modeHTTP, webhookHostPort(modeHTTP, ports[0], ports[1]), pki{}, kubeconfig)
	everything := writeFile(t, filepath.Join(dir, "everything.yaml"), everythingPolicy)
	api := startAPIServer(t, dir, everything, kubeconfig)

	runWorkload(t, api.ClientConfig, dir, workloadOptions{namespace: "backpressure", bigConfigMaps: true})
	// stdout is not read: the first large batch fills the pipe and stays pending, and the next
	// batch finds more than MAX_PENDING_BYTES waiting.
	deadline := time.Now().Add(25 * time.Second)
	for r.metric(t, `kube_audit_requests_total{code="503"}`) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the receiver never answered 503 while its stdout was backed up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	paused.Store(false)
	shutdownAt := time.Now()
	api.stop()
	r.stop()
	artifacts(t, "backpressure-503", api.auditLog, r.stdoutPath)
	matchLogToStdout(t, readLines(t, api.auditLog), readLines(t, r.stdoutPath), expectations{shutdownAt: shutdownAt})
}

// balancer stands in for the Service: it hands each new TCP connection to one of the ready
// receivers in turn, as kube-proxy does for a ClusterIP. Receivers leave it when they are told
// to stop, as a terminating pod leaves the EndpointSlice.
type balancer struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string
	next     int
}

func newBalancer(t testing.TB) *balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	b := &balancer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *balancer) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

func (b *balancer) set(backends ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = backends
}

func (b *balancer) serve(c net.Conn) {
	defer c.Close()
	b.mu.Lock()
	if len(b.backends) == 0 {
		b.mu.Unlock()
		return
	}
	addr := b.backends[b.next%len(b.backends)]
	b.next++
	b.mu.Unlock()
	u, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); _ = u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); _ = c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// TestRollingRestart replaces two receivers (Node and Bun) one by one while requests keep
// coming, as a Deployment's rolling update does: each old receiver gets SIGTERM as it leaves
// the Service, drains and exits 0, and no event is lost or written twice.
func TestRollingRestart(t *testing.T) {
	dir := t.TempDir()
	lb := newBalancer(t)
	start := func(name string, rt runtimeName) (*receiver, string) {
		ports, err := freePorts(2)
		must(t, err)
		env := receiverEnv(modeHTTP, pki{dir: dir}, ports[0], ports[1])
		return startReceiver(t, rt, dir, name, receiverOptions{env: env}), fmt.Sprintf("127.0.0.1:%d", ports[0])
	}
	a, aAddr := start("receiver-a", nodeRuntime)
	b, bAddr := start("receiver-b", bunRuntime)
	lb.set(aAddr, bAddr)
	kubeconfig := filepath.Join(dir, "webhook.kubeconfig.yaml")
	renderKubeconfig(t, modeHTTP, "127.0.0.1:"+strconv.Itoa(lb.port()), pki{}, kubeconfig)
	everything := writeFile(t, filepath.Join(dir, "everything.yaml"), everythingPolicy)
	api := startAPIServer(t, dir, everything, kubeconfig)

	// Traffic all along: ConfigMaps created and patched one after another.
	cs := kubernetes.NewForConfigOrDie(api.ClientConfig)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rolling"}}, metav1.CreateOptions{})
	must(t, err)
	var wg sync.WaitGroup
	var requests atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("cm-%d", i)
			if _, err := cs.CoreV1().ConfigMaps("rolling").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)}}, metav1.CreateOptions{}); err == nil {
				_, _ = cs.CoreV1().ConfigMaps("rolling").Get(ctx, name, metav1.GetOptions{})
			}
			requests.Add(2)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(3 * time.Second)
	c, cAddr := start("receiver-c", nodeRuntime)
	lb.set(bAddr, cAddr)
	a.stop()
	time.Sleep(3 * time.Second)
	d, dAddr := start("receiver-d", bunRuntime)
	lb.set(cAddr, dAddr)
	b.stop()
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()
	shutdownAt := time.Now()
	api.stop()
	c.stop()
	d.stop()
	outs := []string{a.stdoutPath, b.stdoutPath, c.stdoutPath, d.stdoutPath}
	artifacts(t, "rolling-restart", api.auditLog, outs...)
	n := matchLogToStdout(t, readLines(t, api.auditLog), readLines(t, outs...), expectations{shutdownAt: shutdownAt})
	t.Logf("%d client requests during the restart, %d events matched", requests.Load(), n)
}
