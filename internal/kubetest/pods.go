package kubetest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MarkPodRunning writes the status a kubelet would write for Pod ns/name once it runs: phase
// Running, Ready, every container running, podIP ip. With no kubelet, this is how a test makes
// a Pod look alive to whoever reads the API (Prometheus's kubernetes_sd, the agent's pod
// list). Pods may have a loopback podIP, so a Pod can point at a server the test runs on
// 127.0.0.1; Endpoints and EndpointSlices refuse loopback addresses.
func (s *Server) MarkPodRunning(t testing.TB, ns, name, ip string) {
	t.Helper()
	ctx := context.Background()
	pods := s.client.CoreV1().Pods(ns)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("MarkPodRunning: %v", err)
	}
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	pod.Status.HostIP = ip
	pod.Status.HostIPs = []corev1.HostIP{{IP: ip}}
	pod.Status.StartTime = &now
	pod.Status.Conditions = nil
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		pod.Status.Conditions = append(pod.Status.Conditions,
			corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptrTo(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("MarkPodRunning %s/%s: %v", ns, name, err)
	}
}

func ptrTo[T any](v T) *T { return &v }
