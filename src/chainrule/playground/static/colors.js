// Colour scales shared by every picture: orange for negative / class 0, blue for
// positive / class 1, white in between (the Playground's convention, easy on a projector).
export const NEG = [245, 147, 34];
export const POS = [8, 119, 189];
export const MID = [232, 234, 237];
export const CLASS_COLORS = [
  [245, 147, 34], [8, 119, 189], [76, 175, 80], [156, 39, 176],
  [233, 30, 99], [0, 150, 136], [121, 85, 72], [96, 125, 139],
];

function mix(a, b, t) {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

// byte 0..255 (0 = most negative, 255 = most positive) -> [r, g, b]
export function diverging(byte) {
  const t = byte / 255;
  return t < 0.5 ? mix(NEG, MID, t * 2) : mix(MID, POS, (t - 0.5) * 2);
}

// a lookup table of the 256 diverging colours, for speed
export const DIVERGING = Array.from({ length: 256 }, (_, i) => diverging(i));

export function rgb(c, alpha = 1) {
  return `rgba(${c[0] | 0}, ${c[1] | 0}, ${c[2] | 0}, ${alpha})`;
}

export function classColor(k) {
  return CLASS_COLORS[k % CLASS_COLORS.length];
}
