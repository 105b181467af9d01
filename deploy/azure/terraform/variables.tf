variable "resource_group_name" {
  description = "Resource group of the load balancer and of the routers' network security group."
  type        = string
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "name" {
  description = "Name of the load balancer; probes and rules are named after the listeners."
  type        = string
  default     = "pgrouter"
}

variable "subnet_id" {
  description = "Subnet of the internal frontend address (clients reach the routers there)."
  type        = string
}

variable "frontend_private_ip" {
  description = "Static frontend address in subnet_id, or null for a dynamic one."
  type        = string
  default     = null
}

variable "router_ip_configurations" {
  description = "The router VMs' NIC IP configurations that form the backend pool, keyed by any name."
  type = map(object({
    network_interface_id  = string
    ip_configuration_name = string
  }))
}

variable "network_security_group_name" {
  description = "The NSG on the routers' NICs or subnet."
  type        = string
}

variable "client_address_prefixes" {
  description = "Address ranges (CIDR) of the PostgreSQL clients allowed to reach 5432 and 5433."
  type        = list(string)
}

variable "idle_timeout_in_minutes" {
  description = <<-EOT
    Idle flows are reset after this (4-100 minutes). pgrouter's timeouts.keepalive (default
    60s) sends TCP keepalives well within it, so only a peer that vanished is cut; match it
    to timeouts.client (default 30m) if keepalive is turned off.
  EOT
  type        = number
  default     = 30
}
