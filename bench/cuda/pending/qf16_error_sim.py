# Simulates the relative error that f16 queries add to test_cuda_turbo's sharp case (q x 4, V x 1e-3,
# head 128, 8 query heads on 4 KV heads, 300 cells, every 5th in another sequence): turbo3 K as
# codebook values times norms, exact vs f16-rounded q, the rest exact. Pure Python (no numpy).
#   python3 bench/cuda/pending/qf16_error_sim.py   -> 2.7e-4, 4.0e-4, 5.3e-4 for seeds 0-2
import random, math, struct
def f16(x): return struct.unpack('e', struct.pack('e', x))[0]
cb=[-2.1519457,-1.3439093,-0.7560053,-0.2450942,0.2450942,0.7560053,1.3439093,2.1519457]
def quant(x):
    return min(range(8), key=lambda i: abs(cb[i]-x))
def run(seed, d=128, nh=8, nkv=4, ncell=300, qs=4.0, vs=1e-3):
    rnd=random.Random(seed)
    G=nh//nkv; scale=1/math.sqrt(d)
    num=0; den=0
    K=[]; V=[]
    for h in range(nkv):
        kr=[];vr=[]
        for c in range(ncell):
            sc=0.5+rnd.random(); x=[sc*rnd.gauss(0,1) for _ in range(d)]
            n=math.sqrt(sum(t*t for t in x)); y=[t/n*math.sqrt(d) for t in x]
            idx=[quant(t) for t in y]; cc=sum(cb[i]**2 for i in idx)
            norm=n*math.sqrt(d/cc)
            kr.append([norm/math.sqrt(d)*cb[i] for i in idx])
            sc=0.5+rnd.random(); vr.append([vs*sc*rnd.gauss(0,1) for _ in range(d)])
        K.append(kr);V.append(vr)
    vis=[c%5!=4 for c in range(ncell)]
    for h in range(nh):
        kv=h//G; sc=0.5+rnd.random(); q=[qs*sc*rnd.gauss(0,1) for _ in range(d)]
        outs=[]
        for qq in (q,[f16(t) for t in q]):
            s=[scale*sum(a*b for a,b in zip(qq,K[kv][c])) if vis[c] else -1e30 for c in range(ncell)]
            m=max(s); p=[math.exp(t-m) for t in s]; L=sum(p)
            outs.append([sum(p[c]*V[kv][c][i] for c in range(ncell))/L for i in range(d)])
        for a,b in zip(outs[1],outs[0]): num+=(a-b)**2; den+=b*b
    return math.sqrt(num/den)
for s in range(3): print(s, run(s))
