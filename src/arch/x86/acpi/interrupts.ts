/**
 * How ISA interrupts reach the I/O APIC. The MADT, the MP table and the
 * VMM's KVM GSI routing must agree, so all three take their wiring from
 * here.
 *
 * A PC connects the 8254 timer (ISA IRQ 0) to I/O APIC pin 2 and every
 * other ISA IRQ n to pin n; firmware reports the IRQ 0 move with an
 * Interrupt Source Override (ACPI 6.5, 5.2.12.5) and an MP I/O interrupt
 * entry (MP spec 1.4, 4.3.4). KVM's default routing instead sends GSI 0 to
 * pin 0, so a VMM that describes the PC wiring must install
 * `pcGsiRoutes()` with KVM_SET_GSI_ROUTING (as QEMU does).
 */
import type { GsiRoute } from '../../../kvm/vm.js';
import { IOAPIC_PINS } from './layout.js';

/** The I/O APIC pin ISA IRQ 0 is wired to: 2 as on a PC, or 0 with KVM's default routing. */
export type Irq0Pin = 0 | 2;
export const PC_IRQ0_PIN: Irq0Pin = 2;

/** KVM irqchip numbers (struct kvm_irq_routing_irqchip). */
const IRQCHIP_PIC_MASTER = 0;
const IRQCHIP_PIC_SLAVE = 1;
const IRQCHIP_IOAPIC = 2;

/** The I/O APIC pin of ISA IRQ `irq`, or null when no pin carries it (IRQ 2 when the timer took pin 2). */
export function isaIrqPin(irq: number, irq0Pin: Irq0Pin): number | null {
  if (irq === 0) return irq0Pin;
  if (irq === 2 && irq0Pin === 2) return null;
  return irq;
}

/**
 * GSI routes matching the tables: GSI n drives 8259 input n (n < 16, not
 * the cascade input 2) and the I/O APIC pin the tables name for ISA IRQ n;
 * GSIs 16-23 drive the I/O APIC only.
 */
export function pcGsiRoutes(irq0Pin: Irq0Pin = PC_IRQ0_PIN): GsiRoute[] {
  const routes: GsiRoute[] = [];
  for (let gsi = 0; gsi < IOAPIC_PINS; gsi++) {
    if (gsi < 16) {
      if (gsi === 2 && irq0Pin === 2) continue;
      routes.push({ gsi, type: 'irqchip', irqchip: gsi < 8 ? IRQCHIP_PIC_MASTER : IRQCHIP_PIC_SLAVE, pin: gsi % 8 });
      routes.push({ gsi, type: 'irqchip', irqchip: IRQCHIP_IOAPIC, pin: isaIrqPin(gsi, irq0Pin)! });
    } else {
      routes.push({ gsi, type: 'irqchip', irqchip: IRQCHIP_IOAPIC, pin: gsi });
    }
  }
  return routes;
}
