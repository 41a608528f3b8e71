// Terminal styling for the command line: colour only on a terminal, and never with NO_COLOR (no-color.org).

import { styleText } from 'node:util';

export type Style = Parameters<typeof styleText>[0];

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const colorErr = process.stderr.isTTY === true && !process.env.NO_COLOR;

/** `text` styled for stdout. */
export const paint = (style: Style, text: string): string => (color ? styleText(style, text) : text);
/** `text` styled for stderr. */
export const paintErr = (style: Style, text: string): string => (colorErr ? styleText(style, text) : text);
