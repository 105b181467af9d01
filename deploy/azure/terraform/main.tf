# A Standard internal load balancer in front of the pgrouter VMs: one rule per listener,
# each with its own HTTP probe on pgrouter's stats port, so a router without a confirmed
# primary leaves the read-write rule only. README.md beside this directory says why.

locals {
  # The listeners of config/pgrouter.yaml and their per-listener health endpoint.
  listeners = {
    rw = { port = 5432, probe_path = "/health/rw" }
    ro = { port = 5433, probe_path = "/health/ro" }
  }
  http_port     = 8404
  frontend_name = "pgrouter"
}

resource "azurerm_lb" "pgrouter" {
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = "Standard"

  frontend_ip_configuration {
    name                          = local.frontend_name
    subnet_id                     = var.subnet_id
    private_ip_address_allocation = var.frontend_private_ip == null ? "Dynamic" : "Static"
    private_ip_address            = var.frontend_private_ip
  }
}

resource "azurerm_lb_backend_address_pool" "routers" {
  name            = "${var.name}-routers"
  loadbalancer_id = azurerm_lb.pgrouter.id
}

resource "azurerm_network_interface_backend_address_pool_association" "routers" {
  for_each                = var.router_ip_configurations
  network_interface_id    = each.value.network_interface_id
  ip_configuration_name   = each.value.ip_configuration_name
  backend_address_pool_id = azurerm_lb_backend_address_pool.routers.id
}

# Only 200 counts as healthy. Probes come from 168.63.129.16 (the AzureLoadBalancer tag).
resource "azurerm_lb_probe" "listener" {
  for_each            = local.listeners
  name                = "${var.name}-${each.key}"
  loadbalancer_id     = azurerm_lb.pgrouter.id
  protocol            = "Http"
  port                = local.http_port
  request_path        = each.value.probe_path
  interval_in_seconds = 5
  probe_threshold     = 2
}

resource "azurerm_lb_rule" "listener" {
  for_each                       = local.listeners
  name                           = "${var.name}-${each.key}"
  loadbalancer_id                = azurerm_lb.pgrouter.id
  protocol                       = "Tcp"
  frontend_ip_configuration_name = local.frontend_name
  frontend_port                  = each.value.port
  backend_port                   = each.value.port
  backend_address_pool_ids       = [azurerm_lb_backend_address_pool.routers.id]
  probe_id                       = azurerm_lb_probe.listener[each.key].id
  idle_timeout_in_minutes        = var.idle_timeout_in_minutes
  tcp_reset_enabled              = true
  disable_outbound_snat          = true
}

# The default AllowAzureLoadBalancerInBound rule has the lowest priority: a deny-all rule
# above it would take every router out of the pool.
resource "azurerm_network_security_rule" "probes" {
  name                        = "${var.name}-lb-probes"
  resource_group_name         = var.resource_group_name
  network_security_group_name = var.network_security_group_name
  priority                    = 200
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_address_prefix       = "AzureLoadBalancer"
  source_port_range           = "*"
  destination_address_prefix  = "*"
  destination_port_range      = tostring(local.http_port)
  description                 = "Azure Load Balancer health probes (168.63.129.16) to pgrouter's /health/<listener>"
}

resource "azurerm_network_security_rule" "clients" {
  name                        = "${var.name}-clients"
  resource_group_name         = var.resource_group_name
  network_security_group_name = var.network_security_group_name
  priority                    = 210
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_address_prefixes     = var.client_address_prefixes
  source_port_range           = "*"
  destination_address_prefix  = "*"
  destination_port_ranges     = [for l in local.listeners : tostring(l.port)]
  description                 = "PostgreSQL clients to pgrouter's listeners"
}
