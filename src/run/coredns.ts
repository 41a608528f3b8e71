// The cluster DNS as kubeadm (and kind, and minikube) deploys it, for clusters whose manifests do not carry
// one: an application's manifests never include kube-system. The Service is kube-system/kube-dns at the
// tenth address of the service CIDR (kubeadm's DNS IP: 10.96.0.10 for the default 10.96.0.0/12), its pods
// the coredns Deployment's two replicas, labelled k8s-app=kube-dns (cmd/kubeadm/app/phases/addons/dns).

import { cidrRange } from '../k8s/validate.js';
import { formatIPv4 } from '../common/ip.js';

/** kube-dns's cluster IP for a service CIDR (the tenth address, as kubeadm's GetDNSIP). */
export function dnsServiceIP(serviceCIDR = '10.96.0.0/12'): string {
  return formatIPv4(cidrRange(serviceCIDR).base + 10);
}

/** CoreDNS's Service and Deployment, as kubeadm writes them (the parts the dataplane and DNS read). */
export function coreDnsManifest(serviceCIDR?: string): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: ${dnsServiceIP(serviceCIDR)}
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
  - {name: metrics, port: 9153, protocol: TCP, targetPort: 9153}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  replicas: 2
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      dnsPolicy: Default
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.11.3
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        - {name: metrics, containerPort: 9153, protocol: TCP}
`;
}
