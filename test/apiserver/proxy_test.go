package apiserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// podNetwork is a network namespace joined to this host by a veth pair: an address that is not
// loopback, which the API server's service proxy accepts as a pod IP.
type podNetwork struct {
	name   string
	hostIP string
	podIP  string
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newPodNetwork makes the namespace, or skips the test where that is not allowed (not root, no
// iproute2); in CI it must work.
func newPodNetwork(t testing.TB) podNetwork {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root with iproute2: the service-proxy test needs `ip netns`")
		}
		t.Skip("needs root and iproute2 (ip netns) to give the receiver a non-loopback address")
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(250))
	octet := int(n.Int64()) + 1
	p := podNetwork{name: fmt.Sprintf("kube-audit-%d", octet), hostIP: fmt.Sprintf("10.213.%d.1", octet), podIP: fmt.Sprintf("10.213.%d.2", octet)}
	host, pod := fmt.Sprintf("ka%dh", octet), fmt.Sprintf("ka%dp", octet)
	run(t, "ip", "netns", "add", p.name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = exec.Command("ip", "netns", "del", p.name).Run()
	})
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", pod)
	run(t, "ip", "link", "set", pod, "netns", p.name)
	run(t, "ip", "addr", "add", p.hostIP+"/30", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "netns", "exec", p.name, "ip", "addr", "add", p.podIP+"/30", "dev", pod)
	run(t, "ip", "netns", "exec", p.name, "ip", "link", "set", pod, "up")
	run(t, "ip", "netns", "exec", p.name, "ip", "link", "set", "lo", "up")
	return p
}

// clusterPKI is the cluster's own CA, the API server's serving certificate and an admin client
// certificate (group system:masters): what `ibmcloud ks cluster ca get` and
// `ibmcloud ks cluster config --admin` hand an IKS user.
func clusterPKI(t testing.TB, dir string) {
	t.Helper()
	script := `
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days 2 -subj "/CN=cluster CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout cluster-ca.key -out cluster-ca.pem
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > apiserver.ext
openssl x509 -req -in apiserver.csr -CA cluster-ca.pem -CAkey cluster-ca.key -CAcreateserial -days 2 -sha256 -extfile apiserver.ext -out apiserver.crt
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/O=system:masters/CN=kube-audit-webhook" -keyout kubeconfig-key.pem -out admin.csr
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in admin.csr -CA cluster-ca.pem -CAkey cluster-ca.key -CAcreateserial -days 2 -sha256 -extfile client.ext -out kubeconfig-cert.pem
`
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster PKI: %v\n%s", err, out)
	}
}

// proxyWebhookConfig is the webhook kubeconfig for the service-proxy route, as
// `ibmcloud ks cluster master audit-webhook set --remote-server <url> --ca-cert --client-cert
// --client-key` configures it: the API server posts to itself with the admin certificate.
func proxyWebhookConfig(t testing.TB, dir, server string) string {
	t.Helper()
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: audit
    cluster:
      server: %s
      certificate-authority: %s
contexts:
  - name: audit
    context: {cluster: audit, user: audit}
current-context: audit
users:
  - name: audit
    user:
      client-certificate: %s
      client-key: %s
`, server, filepath.Join(dir, "cluster-ca.pem"), filepath.Join(dir, "kubeconfig-cert.pem"), filepath.Join(dir, "kubeconfig-key.pem"))
	return writeFile(t, filepath.Join(dir, "webhook.kubeconfig.yaml"), text)
}

// proxyPolicy records everything except the webhook's own posts through the proxy, which would
// otherwise each make an event for the next batch.
const proxyPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    users: ["kube-audit-webhook"]
  - level: RequestResponse
`

// exposePod makes the receiver in the network namespace an endpoint of the kube-audit Service,
// as the kubelet and the EndpointSlice controller would: a Pod of the Deployment's labels with
// the namespace's address as its IP, and an EndpointSlice naming it. (The service proxy only
// forwards to an endpoint whose targetRef is a Pod with that IP:
// k8s.io/kubernetes/pkg/registry/core/service/storage, isValidAddress.)
func exposePod(t testing.TB, cs kubernetes.Interface, podIP string) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app.kubernetes.io/name": "kube-audit", "app.kubernetes.io/component": "receiver"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-audit-0", Namespace: "kube-audit", Labels: labels},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "receiver", Image: "kube-audit-receiver:latest",
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
	created, err := cs.CoreV1().Pods("kube-audit").Create(ctx, pod, metav1.CreateOptions{})
	must(t, err)
	created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}}}
	_, err = cs.CoreV1().Pods("kube-audit").UpdateStatus(ctx, created, metav1.UpdateOptions{})
	must(t, err)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kube-audit-0", Namespace: "kube-audit", Labels: map[string]string{discoveryv1.LabelServiceName: "kube-audit"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{podIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "kube-audit", Name: "kube-audit-0", UID: created.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](3000), Protocol: ptr.To(corev1.ProtocolTCP)}, {Name: ptr.To("https"), Port: ptr.To[int32](4443), Protocol: ptr.To(corev1.ProtocolTCP)}, {Name: ptr.To("metrics"), Port: ptr.To[int32](9090), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	_, err = cs.DiscoveryV1().EndpointSlices("kube-audit").Create(ctx, slice, metav1.CreateOptions{})
	must(t, err)
}

// waitForDelivery waits until every event now in the API server's log is on the receiver's
// stdout, and returns those log lines. Through the service proxy the API server posts to
// itself, so its last batch, sent while it shuts down, cannot arrive: the comparison is made
// while it runs.
func waitForDelivery(t testing.TB, logPath string, stdouts []string, timeout time.Duration) []string {
	t.Helper()
	logLines := readLines(t, logPath)
	deadline := time.Now().Add(timeout)
	for {
		have := map[string]bool{}
		for _, l := range readLines(t, stdouts...) {
			if e, err := decodeEvent(l); err == nil {
				have[eventKey(e)] = true
			}
		}
		missing := 0
		for _, l := range logLines {
			e, err := decodeEvent(l)
			must(t, err)
			if !have[eventKey(e)] {
				missing++
			}
		}
		if missing == 0 {
			return logLines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d logged events did not reach the receiver within %s", missing, len(logLines), timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// forgeThroughProxy grants the user "mallory" create on services/proxy in kube-audit, and as
// mallory posts an EventList with one invented event to the receiver through the service proxy.
// It returns the invented auditID.
func forgeThroughProxy(t testing.TB, cs kubernetes.Interface, cfg *rest.Config) string {
	t.Helper()
	ctx := context.Background()
	_, err := cs.RbacV1().Roles("kube-audit").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "proxy-only"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services/proxy"}, Verbs: []string{"create"}}}}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.RbacV1().RoleBindings("kube-audit").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "proxy-only"}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "proxy-only"}, Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "mallory"}}}, metav1.CreateOptions{})
	must(t, err)
	imp := rest.CopyConfig(cfg)
	imp.Impersonate = rest.ImpersonationConfig{UserName: "mallory"}
	id := "forged-" + randomHex(6)
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/secrets","verb":"list","user":{"username":"system:admin"},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:00.000000Z"}]}`
	deadline := time.Now().Add(20 * time.Second)
	for {
		err = kubernetes.NewForConfigOrDie(imp).CoreV1().RESTClient().Post().AbsPath("/api/v1/namespaces/kube-audit/services/https:kube-audit:https/proxy/post").SetHeader("Content-Type", "application/json").Body([]byte(body)).Do(ctx).Error()
		if err == nil {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("post through the service proxy as a user with services/proxy: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func assertUncheckable(t testing.TB, certFile, podIP, clusterCA string) {
	t.Helper()
	parse := func(path string) *x509.Certificate {
		b, err := os.ReadFile(path)
		must(t, err)
		block, _ := pem.Decode(b)
		if block == nil {
			t.Fatalf("%s: no PEM block", path)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		must(t, err)
		return c
	}
	cert := parse(certFile)
	if cert.VerifyHostname(podIP) == nil {
		t.Fatalf("the receiver's certificate names the pod's address %s; the test needs one that does not", podIP)
	}
	roots := x509.NewCertPool()
	roots.AddCert(parse(clusterCA))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Fatal("the receiver's certificate verifies against the cluster CA; the test needs one that does not")
	}
}

// TestServiceProxyRoute sends the audit webhook the way IBM Cloud Kubernetes Service documents
// it: to the API server's own service proxy
// (https://127.0.0.1:2040/api/v1/namespaces/<ns>/services/https:<svc>:https/proxy/post) with the
// cluster CA and an admin client certificate, on to the receiver's HTTPS port in a pod network.
// It then finds out what the proxy presents to the pod and what it checks.
func TestServiceProxyRoute(t *testing.T) {
	netw := newPodNetwork(t)
	dir := t.TempDir()
	clusterPKI(t, dir)
	// The webhook kubeconfig is read at start-up, before the API server's port is known: a
	// forwarder on a port chosen now stands in for the master's 127.0.0.1:2040.
	fwd := newBalancer(t)
	route := fmt.Sprintf("https://127.0.0.1:%d/api/v1/namespaces/kube-audit/services/https:kube-audit:https/proxy/post", fwd.port())
	kubeconfig := proxyWebhookConfig(t, dir, route)
	policy := writeFile(t, filepath.Join(dir, "policy.yaml"), proxyPolicy)
	api := startAPIServer(t, dir, policy, kubeconfig,
		"--tls-cert-file="+filepath.Join(dir, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(dir, "apiserver.key"),
		"--client-ca-file="+filepath.Join(dir, "cluster-ca.pem"),
		// StartTestServer points the peer proxy's CA at the certificate it would have generated;
		// with a serving certificate of our own there is none, and one API server has no peers.
		"--feature-gates=UnknownVersionInteroperabilityProxy=false",
		// The last batch, sent as the API server shuts down, goes to the API server itself and
		// fails; with the default 10 s initial backoff its retries hold the shutdown for 80 s.
		"--audit-webhook-initial-backoff=1s")
	fwd.set(strings.TrimPrefix(api.ClientConfig.Host, "https://"))
	cs := kubernetes.NewForConfigOrDie(api.ClientConfig)

	// The manifests, then the receiver with a certificate made as docs/security.md says: for
	// the Service's ClusterIP and DNS names, from a CA the API server has never seen.
	kubectlDir := t.TempDir()
	kc := filepath.Join(kubectlDir, "kubeconfig")
	writeKubeconfig(t, api.ClientConfig, kc)
	kubectl(t, kc, "apply", "--server-side", "-f", filepath.Join(repoRoot(t), "deploy"))
	svc, err := cs.CoreV1().Services("kube-audit").Get(context.Background(), "kube-audit", metav1.GetOptions{})
	must(t, err)
	p := makePKI(t, svc.Spec.ClusterIP)
	// The receiver's certificate would fail any check the proxy could make: it does not name
	// the pod's address, and the API server has never seen its CA.
	assertUncheckable(t, p.file("tls.crt"), netw.podIP, filepath.Join(dir, "cluster-ca.pem"))
	env := receiverEnv(modeHTTPSCA, p, 3000, 4443)
	r := startReceiver(t, nodeRuntime, dir, "receiver", receiverOptions{env: env, netns: netw.name})
	exposePod(t, cs, netw.podIP)

	runWorkload(t, api.ClientConfig, dir, workloadOptions{namespace: "via-proxy"})
	logLines := waitForDelivery(t, api.auditLog, []string{r.stdoutPath}, 90*time.Second)

	// Whoever may create services/proxy in the namespace posts through the same path, from the
	// same konnectivity pods as far as a NetworkPolicy can tell: here a user with only that
	// permission forges an event, and the receiver cannot tell it from the API server's.
	forged := forgeThroughProxy(t, cs, api.ClientConfig)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(strings.Join(readLines(t, r.stdoutPath), "\n"), forged) {
		if time.Now().After(deadline) {
			t.Fatalf("the event posted through the service proxy by a user with services/proxy did not arrive")
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.stop()
	artifacts(t, "service-proxy", api.auditLog, r.stdoutPath)
	// Every event logged until then arrived once and unchanged; whatever else the receiver wrote
	// is in the log too (events logged after the snapshot).
	inSnapshot := map[string]bool{}
	for _, l := range logLines {
		e, _ := decodeEvent(l)
		inSnapshot[eventKey(e)] = true
	}
	inLog := map[string]bool{}
	for _, l := range readLines(t, api.auditLog) {
		e, _ := decodeEvent(l)
		inLog[eventKey(e)] = true
	}
	var delivered []string
	for _, l := range readLines(t, r.stdoutPath) {
		e, err := decodeEvent(l)
		must(t, err)
		switch {
		case inSnapshot[eventKey(e)]:
			delivered = append(delivered, l)
		case e["auditID"] == forged:
		case !inLog[eventKey(e)]:
			t.Errorf("the receiver wrote an event that is not in the API server's log: %.300s", l)
		}
	}
	n := matchLogToStdout(t, logLines, delivered, expectations{})
	t.Logf("%d events through the service proxy, all matched: %d", len(logLines), n)

	// What the proxy presents and checks: openssl s_server in the pod's place, asking for (not
	// requiring) a client certificate, serving its handshake report (-www) through the proxy. It
	// listens on the Service's metrics port: s_server takes one connection at a time, and on the
	// https port the API server's own webhook batches (which keep coming) would queue before it.
	sserver := exec.Command("ip", "netns", "exec", netw.name, "openssl", "s_server", "-accept", "9090",
		"-cert", p.file("tls.crt"), "-key", p.file("tls.key"), "-verify", "1", "-www")
	var sout bytes.Buffer
	sserver.Stdout, sserver.Stderr = &sout, &sout
	must(t, sserver.Start())
	t.Cleanup(func() { _ = sserver.Process.Kill(); _ = sserver.Wait() })
	var body []byte
	// Generous: on a busy machine openssl may take a while to listen, and the proxy answers 503 until then.
	deadline = time.Now().Add(90 * time.Second)
	for {
		body, err = cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/kube-audit/services/https:kube-audit:metrics/proxy/").DoRaw(context.Background())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("openssl s_server behind the service proxy did not answer: %v\nits output:\n%s", err, sout.String())
	}
	report := string(body)
	t.Logf("openssl s_server behind the service proxy reports:\n%s", report)
	if !strings.Contains(report, "no client certificate available") {
		t.Errorf("the service proxy presented a client certificate to the pod:\n%s", report)
	}
	if !strings.Contains(report, "TLSv1.3") {
		t.Errorf("the service proxy did not negotiate TLS 1.3 with the pod:\n%s", report)
	}

	// And a receiver that requires client certificates (TLS_CLIENT_CA_FILE) refuses the proxy:
	// mTLS cannot be used on this route.
	_ = sserver.Process.Kill()
	_ = sserver.Wait()
	env = receiverEnv(modeMTLS, p, 3000, 4443)
	r2 := startReceiver(t, nodeRuntime, dir, "receiver-mtls", receiverOptions{env: env, netns: netw.name})
	res := cs.CoreV1().RESTClient().Post().AbsPath("/api/v1/namespaces/kube-audit/services/https:kube-audit:https/proxy/post").Body([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`)).SetHeader("Content-Type", "application/json").Do(context.Background())
	var code int
	res.StatusCode(&code)
	if res.Error() == nil {
		t.Errorf("a receiver requiring client certificates took a post through the service proxy (HTTP %d)", code)
	} else {
		t.Logf("mTLS receiver behind the service proxy: HTTP %d, %v", code, res.Error())
	}
	r2.stop()
}
