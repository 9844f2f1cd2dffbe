// The secrets scenario has one size: the stress run repeats it so its figures land with the stress figures.
import '../reliability/secrets.test.ts';
