/*
 * A small printf engine shared by serial_printf() and snprintf():
 * %% %c %s %p %d %i %u %x %X, flags '0' and '-', a width (digits or *), and the length
 * modifiers l, ll and z (all 64-bit here).
 */
#include "runtime.h"

/* Where formatted characters go: the UART, or a bounded buffer. */
struct sink {
    char *buf;   /* NULL: the serial port */
    size_t size; /* capacity of buf, including the NUL */
    size_t len;  /* characters produced so far (even those cut off) */
};

static void sink_put(struct sink *sink, char c)
{
    if (sink->buf == NULL)
        serial_putc(c);
    else if (sink->len + 1 < sink->size)
        sink->buf[sink->len] = c;
    sink->len++;
}

static void put_repeated(struct sink *sink, char c, int n)
{
    for (; n > 0; n--)
        sink_put(sink, c);
}

/* Writes s[0..len) padded to `width` (left-justified if `left`). */
static void put_padded(struct sink *sink, const char *s, int len, int width, int left, char pad)
{
    if (!left) {
        /* A leading '-' goes before zero padding. */
        if (pad == '0' && len > 0 && s[0] == '-') {
            sink_put(sink, '-');
            s++;
            len--;
            width--;
        }
        put_repeated(sink, pad, width - len);
    }
    for (int i = 0; i < len; i++)
        sink_put(sink, s[i]);
    if (left)
        put_repeated(sink, ' ', width - len);
}

/* Formats v in `base` at the end of buf[0..24); returns the first digit. */
static char *format_unsigned(char *end, uint64_t v, unsigned base, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;
    do {
        *--p = digits[v % base];
        v /= base;
    } while (v != 0);
    return p;
}

static void format(struct sink *sink, const char *fmt, va_list ap)
{
    char buf[24];
    char *const end = buf + sizeof buf;
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f != '%') {
            sink_put(sink, *f);
            continue;
        }
        f++;
        int left = 0;
        char pad = ' ';
        for (;; f++) {
            if (*f == '-')
                left = 1;
            else if (*f == '0')
                pad = '0';
            else
                break;
        }
        int width = 0;
        if (*f == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                left = 1;
                width = -width;
            }
            f++;
        }
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        int longs = 0;
        while (*f == 'l' || *f == 'z') {
            longs += *f == 'z' ? 2 : 1;
            f++;
        }
        if (left)
            pad = ' ';

        uint64_t u;
        char *s;
        switch (*f) {
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            put_padded(sink, buf, 1, width, left, ' ');
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (str == NULL)
                str = "(null)";
            put_padded(sink, str, (int)strlen(str), width, left, ' ');
            break;
        }
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            u = v < 0 ? -(uint64_t)v : (uint64_t)v;
            s = format_unsigned(end, u, 10, 0);
            if (v < 0)
                *--s = '-';
            put_padded(sink, s, (int)(end - s), width, left, pad);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
            u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            s = format_unsigned(end, u, *f == 'u' ? 10 : 16, *f == 'X');
            put_padded(sink, s, (int)(end - s), width, left, pad);
            break;
        case 'p':
            u = (uintptr_t)va_arg(ap, void *);
            s = format_unsigned(end, u, 16, 0);
            *--s = 'x';
            *--s = '0';
            put_padded(sink, s, (int)(end - s), width, left, ' ');
            break;
        case '%':
            sink_put(sink, '%');
            break;
        case '\0':
            return; /* a lone '%' at the end */
        default:
            /* Unknown conversion: print it verbatim, so mistakes show. */
            sink_put(sink, '%');
            sink_put(sink, *f);
            break;
        }
    }
}

void serial_vprintf(const char *fmt, va_list ap)
{
    struct sink sink = { NULL, 0, 0 };
    format(&sink, fmt, ap);
}

void serial_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    serial_vprintf(fmt, ap);
    va_end(ap);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct sink sink = { buf, size, 0 };
    format(&sink, fmt, ap);
    if (size != 0)
        buf[sink.len < size ? sink.len : size - 1] = '\0';
    return (int)sink.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
